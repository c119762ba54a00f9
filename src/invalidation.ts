import type { CacheManager } from './cache/manager.ts'
import type { Db } from './db.ts'
import type { DomainEvent, DomainEventMap, DomainEventName, DomainEvents } from './domain/events.ts'
import { CASCADE, WRITE_THROUGH } from './catalog.ts'
import { findGig } from './domain/gigs.ts'
import { findApplication } from './domain/applications.ts'
import { findAssignment } from './domain/assignments.ts'

type Loaders = Record<'gig' | 'application' | 'assignment', (db: Db, id: number) => Promise<unknown>>

// What each entity key holds: the same record its read path caches, so a hit looks the same either way.
const LOADERS: Loaders = {
  // A draft is private to its poster: it never enters the public gig:{id} entry.
  gig: async (db, id) => { const g = await findGig(db, id); return g?.status === 'draft' ? undefined : g },
  application: (db, id) => findApplication(db, id),
  assignment: (db, id) => findAssignment(db, id)
}

/** The tags a domain event invalidates, by the catalog's cascade rules. */
export function tagsFor (event: DomainEvent): string[] {
  const rule = CASCADE[event.name] as (p: DomainEventMap[DomainEventName]) => string[]
  return [...new Set(rule(event.payload))]
}

/**
 * Subscribes the cache to the domain events: each event invalidates its cascade (awaited, so the
 * writing request replies only after), then the LLD's critical entities are written through,
 * guarded by their version so an older write finishing late never replaces a newer one.
 */
export function subscribeInvalidation (events: DomainEvents, cache: CacheManager, db: Db, log: { warn: (o: object, m: string) => void }): () => void {
  return events.onAny(async (event) => {
    const tags = tagsFor(event)
    await cache.invalidateTags(tags)
    const through = WRITE_THROUGH[event.name] as ((p: DomainEventMap[DomainEventName]) => { type: keyof Loaders, id: number, version: number }) | undefined
    if (!through) return
    const target = through(event.payload)
    try {
      const record = await LOADERS[target.type](db, target.id)
      if (record === undefined) return
      await cache.setEntity(target.type, target.id, record, undefined, versionOf(record) ?? target.version)
    } catch (err) {
      // The invalidation above already made the cache correct; a failed write-through only costs a miss.
      log.warn({ err, event: event.name }, 'write-through failed')
    }
  })
}

// The version read after commit may be newer than the event's (a later write committed meanwhile).
function versionOf (record: unknown): number | undefined {
  if (typeof record !== 'object' || record === null) return undefined
  const r = record as { version?: unknown, application?: { version?: unknown }, assignment?: { version?: unknown } }
  const v = r.version ?? r.application?.version ?? r.assignment?.version
  return typeof v === 'number' ? v : undefined
}
