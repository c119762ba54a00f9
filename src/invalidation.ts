import type { CacheManager } from './cache/manager.ts'
import type { Db } from './db.ts'
import type { DomainEvent, DomainEventMap, DomainEventName } from './domain/events.ts'
import { CASCADE, WRITE_THROUGH } from './catalog.ts'
import { findGig } from './domain/gigs.ts'
import { findApplication } from './domain/applications.ts'
import { findAssignment } from './domain/assignments.ts'

type EntityType = 'gig' | 'application' | 'assignment'
type Loaders = Record<EntityType, (db: Db, id: number) => Promise<unknown>>

// What each entity key holds: the same record its read path caches, so a hit looks the same either way.
export const ENTITY_LOADERS: Loaders = {
  // A draft is private to its poster: it never enters the public gig:{id} entry.
  gig: async (db, id) => { const g = await findGig(db, id); return g?.status === 'draft' ? undefined : g },
  application: (db, id) => findApplication(db, id),
  assignment: (db, id) => findAssignment(db, id)
}

/** The tags a domain event invalidates, by the catalog's cascade rules. */
export function tagsFor (event: DomainEvent): string[] {
  const rule = CASCADE[event.name] as ((p: DomainEventMap[DomainEventName]) => string[]) | undefined
  if (rule === undefined) throw new Error(`no cascade rule for event "${String(event.name)}"`)
  return [...new Set(rule(event.payload))]
}

interface WarnLog { warn (o: object, m: string): void }

/** Applies one committed domain event to the cache; rejects when the invalidation did not reach the store. */
export type ApplyEvent = (event: DomainEvent) => Promise<void>

/**
 * The cache side of a domain event: invalidate its cascade (this throws when the store cannot be
 * told, so the outbox keeps the event and retries), then write the LLD's critical entities
 * through. The write-through reads the tags' tokens before it reads the database, so an older
 * read that finishes after a newer write is refused, and it is version-guarded too.
 */
export function createInvalidator (cache: CacheManager, db: Db, log: WarnLog): ApplyEvent {
  return async (event) => {
    await cache.invalidateTags(tagsFor(event))
    const through = WRITE_THROUGH[event.name] as ((p: DomainEventMap[DomainEventName]) => { type: EntityType, id: number, version: number }) | undefined
    if (!through) return
    const target = through(event.payload)
    try {
      await cache.refreshEntity(target.type, target.id, () => ENTITY_LOADERS[target.type](db, target.id),
        (record) => versionOf(record) ?? target.version)
    } catch (err) {
      // The invalidation above already made the cache correct; a failed write-through only costs a miss.
      log.warn({ err, event: event.name }, 'write-through failed')
    }
  }
}

/** The version of a record a loader returned: the entity's own, or its application's/assignment's. */
export function versionOf (record: unknown): number | undefined {
  if (typeof record !== 'object' || record === null) return undefined
  const r = record as { version?: unknown, application?: { version?: unknown }, assignment?: { version?: unknown } }
  const v = r.version ?? r.application?.version ?? r.assignment?.version
  return typeof v === 'number' ? v : undefined
}
