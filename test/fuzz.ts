import fc from 'fast-check'

/**
 * Runs a property a bounded number of times. A failure names the seed and the shrunk path,
 * and the command that replays exactly that case: `FASTCHECK_SEED=… FASTCHECK_PATH=…`
 * (the path only for the test named with `-t`, since it points inside one property's runs).
 */
export async function checkProperty<Ts extends [unknown, ...unknown[]]>(name: string, file: string, property: fc.IAsyncPropertyWithHooks<Ts> | fc.IPropertyWithHooks<Ts>, numRuns: number): Promise<void> {
  const given = process.env.FASTCHECK_SEED
  const seed = given ? Number(given) : (Date.now() ^ (Math.random() * 0x1_0000_0000)) | 0
  const path = process.env.FASTCHECK_PATH
  const details = await fc.check(property, { seed, numRuns, ...(path ? { path } : {}) })
  if (!details.failed) return
  const replay = `FASTCHECK_SEED=${details.seed} FASTCHECK_PATH=${details.counterexamplePath ?? ''} npx vitest run ${file} -t ${JSON.stringify(name)}`
  const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)
  throw new Error(`${name}: property failed (seed ${details.seed}); replay with\n  ${replay}\n${fc.defaultReportMessage(details) ?? ''}\n${cause}`)
}
