import { describe, expect, it } from 'vitest'
import { formatDuration, parseDuration, parseMemory } from '../../src/config/units.js'

describe('parseDuration (Go durations or seconds, in ms)', () => {
  it('reads Go durations', () => {
    expect(parseDuration('30s')).toBe(30_000)
    expect(parseDuration('500ms')).toBe(500)
    expect(parseDuration('1m30s')).toBe(90_000)
    expect(parseDuration('5m2s')).toBe(302_000)
    expect(parseDuration('1.5h')).toBe(5_400_000)
    expect(parseDuration('1h2m3s4ms')).toBe(3_723_004)
    expect(parseDuration('250us')).toBeCloseTo(0.25)
    expect(parseDuration('0')).toBe(0)
  })

  it('reads plain numbers as seconds, as the watchdog does', () => {
    expect(parseDuration('10')).toBe(10_000)
    expect(parseDuration('0.5')).toBe(500)
    expect(parseDuration(15)).toBe(15_000)
  })

  it('rejects what is not a duration', () => {
    for (const bad of ['', 'soon', '10 parsecs', '5 s', 's', '1d', '-5s', '10x', '1m30', Number.NaN, -1, null, {}]) {
      expect(parseDuration(bad), JSON.stringify(bad)).toBeUndefined()
    }
  })

  it('formats durations back the short way', () => {
    expect(formatDuration(30_000)).toBe('30s')
    expect(formatDuration(120_000)).toBe('2m')
    expect(formatDuration(7_200_000)).toBe('2h')
    expect(formatDuration(1500)).toBe('1500ms')
  })
})

describe('parseMemory (Kubernetes quantities, in bytes)', () => {
  it('reads binary and decimal suffixes and plain bytes', () => {
    expect(parseMemory('128Mi')).toBe(128 * 1024 ** 2)
    expect(parseMemory('1Gi')).toBe(1024 ** 3)
    expect(parseMemory('512Ki')).toBe(512 * 1024)
    expect(parseMemory('1G')).toBe(1e9)
    expect(parseMemory('100M')).toBe(1e8)
    expect(parseMemory('64k')).toBe(64_000)
    expect(parseMemory('512000')).toBe(512_000)
    expect(parseMemory('1.5Gi')).toBe(1.5 * 1024 ** 3)
    expect(parseMemory(1024)).toBe(1024)
  })

  it('rejects what is not a memory quantity', () => {
    for (const bad of ['12 bananas', 'lots', '', 'Mi', '128MB', '128mi', '-1Mi', '0', 0, Number.POSITIVE_INFINITY, null]) {
      expect(parseMemory(bad), JSON.stringify(bad)).toBeUndefined()
    }
  })
})
