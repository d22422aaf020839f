/** The worker-thread settings of `faasdev up`: spare replicas and the machine's replica budget. */
import { parseWhole } from '../config/units.js'

/** parseArgs option definitions to spread into the `up` command's options. */
export const POOL_FLAGS = {
  'spare-replicas': { type: 'string' },
  'max-replicas-total': { type: 'string' },
} as const

export const POOL_USAGE = '[--spare-replicas 1] [--max-replicas-total N]'

export interface PoolSettings {
  spareReplicas?: number
  maxReplicasTotal?: number
}

/** Throws an Error whose message names the flag and the bad value. */
export function poolSettings(flags: Partial<Record<keyof typeof POOL_FLAGS, string | undefined>>): PoolSettings {
  const whole = (flag: keyof typeof POOL_FLAGS, min: number): number | undefined => {
    const v = flags[flag]
    if (v === undefined) return undefined
    const n = parseWhole(v, min)
    if (n === undefined) throw new Error(`--${flag}: ${JSON.stringify(v)} is not a whole number of at least ${min}`)
    return n
  }
  const spareReplicas = whole('spare-replicas', 0)
  const maxReplicasTotal = whole('max-replicas-total', 1)
  return { ...(spareReplicas !== undefined ? { spareReplicas } : {}), ...(maxReplicasTotal !== undefined ? { maxReplicasTotal } : {}) }
}
