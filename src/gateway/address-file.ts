import { readdirSync, readFileSync } from 'node:fs'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** What a running gateway leaves in its data folder (`.faasdev/` beside the stack file). */
export interface GatewayAddress {
  url: string
  pid: number
  /** Hot reload is on: a function added to the stack file starts without a restart. */
  watch: boolean
}

const FILE = /^gateway-(\d+)-\d+\.json$/

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Written once the gateway listens, removed when it closes, so `faasdev new` can tell where
 * the new function will be served (the port is not always 8080). Returns the file.
 */
export async function writeGatewayAddress(dataDir: string, address: GatewayAddress): Promise<string> {
  const file = join(dataDir, `gateway-${address.pid}-${new URL(address.url).port}.json`)
  await writeFile(file, `${JSON.stringify(address)}\n`)
  return file
}

export async function removeGatewayAddress(file: string): Promise<void> {
  await rm(file, { force: true })
}

/** The gateway of a live process serving this data folder; files left by a killed one are ignored. */
export function runningGateway(dataDir: string): GatewayAddress | undefined {
  let names: string[]
  try {
    names = readdirSync(dataDir)
  } catch {
    return undefined
  }
  for (const name of names.sort()) {
    const pid = Number(FILE.exec(name)?.[1])
    if (!pid || !alive(pid)) continue
    try {
      const address = JSON.parse(readFileSync(join(dataDir, name), 'utf8')) as GatewayAddress
      if (typeof address.url === 'string') return address
    } catch {
      // Being written or removed right now: another file may do.
    }
  }
  return undefined
}
