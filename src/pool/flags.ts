/** The worker-thread settings of `faasdev up`: spare replicas, the machine's replica budget, and whether to scale past what helps. */
import { parseWhole } from '../config/units.js'

/** parseArgs option definitions to spread into the `up` command's options. */
export const POOL_FLAGS = {
  'spare-replicas': { type: 'string' },
  'max-replicas-total': { type: 'string' },
  'scale-always': { type: 'boolean' },
} as const

export const POOL_USAGE = '[--spare-replicas 1] [--max-replicas-total N] [--scale-always]'

export interface PoolSettings {
  spareReplicas?: number
  maxReplicasTotal?: number
  scaleAlways?: boolean
}

type NumberFlag = 'spare-replicas' | 'max-replicas-total'

/** Throws an Error whose message names the flag and the bad value. */
export function poolSettings(flags: Partial<Record<NumberFlag, string | undefined>> & { 'scale-always'?: boolean | undefined }): PoolSettings {
  const whole = (flag: NumberFlag, min: number): number | undefined => {
    const v = flags[flag]
    if (v === undefined) return undefined
    const n = parseWhole(v, min)
    if (n === undefined) throw new Error(`--${flag}: ${JSON.stringify(v)} is not a whole number of at least ${min}`)
    return n
  }
  const spareReplicas = whole('spare-replicas', 0)
  const maxReplicasTotal = whole('max-replicas-total', 1)
  return {
    ...(spareReplicas !== undefined ? { spareReplicas } : {}),
    ...(maxReplicasTotal !== undefined ? { maxReplicasTotal } : {}),
    ...(flags['scale-always'] ? { scaleAlways: true } : {}),
  }
}
