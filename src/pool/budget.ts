import { availableParallelism, totalmem } from 'node:os'

/**
 * What a deployment tells the budget: how many replicas of its current version run or
 * start, and the floor its labels guarantee.
 */
export interface BudgetMember {
  readonly name: string
  /** Replicas of the current version starting or ready (a version being replaced is not counted while it drains). */
  threads(): number
  /** Replicas its labels guarantee: `max(1, com.openfaas.scale.min)`. */
  floor(): number
  /** Starts the replicas it held back, if the budget now allows them. */
  rebalance(): void
}

/** Memory a replica may reasonably take on top of the process, for the default budget. */
const MEMORY_PER_REPLICA = 128 * 1024 ** 2

/**
 * The default number of replicas all functions together may run above their floors: eight per
 * core (a trivial handler gains nothing from more threads than cores, but a `max_inflight`
 * function whose calls wait on I/O needs replicas, not cores), at most one per 128 MiB of half
 * the machine's memory, and at least 2.
 */
export function defaultBurstBudget(cores = availableParallelism(), memoryBytes = totalmem()): number {
  return Math.max(2, Math.min(8 * cores, Math.floor(memoryBytes / 2 / MEMORY_PER_REPLICA)))
}

/**
 * A machine budget of worker threads across all functions. Labels keep their meaning: a
 * function's desired count is what they say, but the replicas above its floor
 * (`max(1, com.openfaas.scale.min)`) start only while the total stays within the budget; the
 * rest are held back (shown in `describe` and the dashboard, logged once) and start when
 * another function frees threads. The total is `--max-replicas-total` when given, else the
 * floors of all functions plus {@link defaultBurstBudget}, so adding functions never starves one.
 */
export class ReplicaBudget {
  private readonly members = new Set<BudgetMember>()
  private readonly held = new Set<BudgetMember>()
  /** Functions whose holding back was logged: once each, however often the load moves. */
  private readonly logged = new Set<string>()
  private pending = false

  constructor(
    /** Worker threads for all functions together; undefined: their floors plus `burst`. */
    private readonly fixed: number | undefined,
    private readonly log: (line: string) => void = () => undefined,
    private readonly burst = defaultBurstBudget(),
  ) {}

  /** Worker threads for all functions together, now. */
  get total(): number {
    if (this.fixed !== undefined) return this.fixed
    let floors = 0
    for (const m of this.members) floors += m.floor()
    return floors + this.burst
  }

  join(member: BudgetMember): void {
    this.members.add(member)
  }

  leave(member: BudgetMember): void {
    this.members.delete(member)
    this.held.delete(member)
    this.freed()
  }

  /**
   * How many replicas `member` may run when it wants `wanted` with a floor of `floor`: never
   * below the floor, never more than the budget leaves it. Logs the first time it is held back.
   */
  allow(member: BudgetMember, wanted: number, floor: number): number {
    let others = 0
    for (const m of this.members) if (m !== member) others += m.threads()
    const total = this.total
    const allowed = Math.max(Math.min(wanted, floor), Math.min(wanted, total - others))
    if (allowed < wanted) {
      this.held.add(member)
      if (!this.logged.has(member.name)) {
        this.logged.add(member.name)
        this.log(`${member.name}: held back at ${allowed} of ${wanted} replicas by the machine budget of ${total} worker threads across all functions (--max-replicas-total)`)
      }
    } else this.held.delete(member)
    return allowed
  }

  /** A replica stopped somewhere: the functions held back may take its place. */
  freed(): void {
    if (this.held.size === 0 || this.pending) return
    this.pending = true
    setImmediate(() => {
      this.pending = false
      for (const m of [...this.held]) m.rebalance()
    })
  }
}
