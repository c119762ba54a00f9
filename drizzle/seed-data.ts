import { count, sql } from 'drizzle-orm'
import type { Db } from '../src/db.ts'
import { applications, assignments, categories, gigs, skills, submissions, users } from './schema.ts'

export const CATEGORIES = [
  ['web-development', 'Web development'], ['mobile-apps', 'Mobile apps'], ['design', 'Design'],
  ['writing', 'Writing'], ['data-science', 'Data science'], ['devops', 'DevOps'],
  ['marketing', 'Marketing'], ['video', 'Video & animation']
] as const

export const SKILLS = [
  'typescript', 'javascript', 'react', 'node', 'postgres', 'redis', 'python', 'go', 'rust', 'figma',
  'copywriting', 'seo', 'kubernetes', 'terraform', 'swift', 'kotlin', 'pandas', 'sql', 'illustration', 'after-effects'
] as const

/** Demo sign-ins, in id order: the README and tests use these addresses. */
export const DEMO_USERS = [
  { email: 'alice@gig.local', name: 'Alice Poster', headline: 'Product lead hiring freelancers', skills: ['figma', 'seo'], rating: 4.8, role: 'user' },
  { email: 'bob@gig.local', name: 'Bob Builder', headline: 'Full-stack TypeScript developer', skills: ['typescript', 'node', 'postgres', 'redis'], rating: 4.6, role: 'user' },
  { email: 'carol@gig.local', name: 'Carol Coder', headline: 'React and mobile apps', skills: ['react', 'typescript', 'swift'], rating: 4.9, role: 'user' },
  { email: 'dave@gig.local', name: 'Dave Data', headline: 'Data scientist', skills: ['python', 'pandas', 'sql'], rating: 4.2, role: 'user' },
  { email: 'erin@gig.local', name: 'Erin Editor', headline: 'Technical writer', skills: ['copywriting', 'seo'], rating: 4.5, role: 'user' },
  { email: 'admin@gig.local', name: 'Ada Admin', headline: 'Operates the service', skills: [], rating: 0, role: 'admin' }
] as const

async function seedCatalog (db: Db): Promise<void> {
  await db.insert(categories).values(CATEGORIES.map(([slug, name]) => ({ slug, name }))).onConflictDoNothing()
  await db.insert(skills).values(SKILLS.map((slug) => ({ slug, name: slug.replace(/-/g, ' ') }))).onConflictDoNothing()
}

/** True when the database holds no users yet. */
export async function isEmpty (db: Db): Promise<boolean> {
  const [row] = await db.select({ n: count() }).from(users)
  return (row?.n ?? 0) === 0
}

/** A small fixed dataset: six users, twelve gigs in every status, applications, one assignment and submission. */
export async function seedDemo (db: Db): Promise<void> {
  await db.transaction(async (tx) => {
    const t = tx as unknown as Db
    await seedCatalog(t)
    await t.insert(users).values(DEMO_USERS.map((u) => ({ ...u, skills: [...u.skills] })))
    const gig = (title: string, description: string, category: string, sk: string[], min: number, max: number, status: string, featured: boolean, postedBy: number) =>
      ({ title, description, category, skills: sk, budgetMin: min, budgetMax: max, status, featured, postedBy })
    await t.insert(gigs).values([
      gig('Build a caching layer for our Fastify API', 'Add Redis response caching with tag invalidation to a Fastify 5 service.', 'web-development', ['typescript', 'node', 'redis'], 1500, 3000, 'open', true, 1),
      gig('Landing page redesign', 'Refresh our marketing landing page in Figma, then hand off to engineering.', 'design', ['figma'], 800, 1500, 'open', true, 1),
      gig('Postgres query tuning', 'Find and fix the slow queries behind our dashboard.', 'data-science', ['postgres', 'sql'], 1000, 2000, 'open', false, 1),
      gig('iOS app bug fixes', 'Fix crash reports in our SwiftUI app.', 'mobile-apps', ['swift'], 500, 1200, 'in_progress', false, 1),
      gig('Write API documentation', 'Document twenty REST endpoints with examples.', 'writing', ['copywriting'], 300, 700, 'completed', false, 1),
      gig('Kubernetes migration plan', 'Plan the move of three services to Kubernetes.', 'devops', ['kubernetes', 'terraform'], 2000, 4000, 'draft', false, 1),
      gig('SEO audit for a SaaS blog', 'Audit 40 posts and propose fixes.', 'marketing', ['seo', 'copywriting'], 400, 900, 'open', true, 4),
      gig('Explainer video', 'A 60-second animated explainer for our product.', 'video', ['after-effects', 'illustration'], 1200, 2500, 'open', false, 4),
      gig('React dashboard widgets', 'Build five chart widgets in React with TypeScript.', 'web-development', ['react', 'typescript'], 900, 1800, 'open', false, 5),
      gig('Data pipeline in Python', 'Nightly ETL from CSV exports into Postgres with pandas.', 'data-science', ['python', 'pandas', 'postgres'], 1100, 2200, 'open', false, 5),
      gig('Rust CLI tool', 'A small command-line tool to validate our config files.', 'web-development', ['rust'], 600, 1000, 'cancelled', false, 4),
      gig('Newsletter copy', 'Four monthly newsletters about product updates.', 'writing', ['copywriting'], 200, 500, 'open', false, 1)
    ])
    await t.insert(applications).values([
      { gigId: 1, applicantId: 2, coverLetter: 'I have built exactly this twice.', proposedBudget: 2500, status: 'pending' },
      { gigId: 1, applicantId: 3, coverLetter: 'Fastify and Redis are my daily tools.', proposedBudget: 2800, status: 'pending' },
      { gigId: 3, applicantId: 4, coverLetter: 'Query plans are my hobby.', proposedBudget: 1500, status: 'pending' },
      { gigId: 4, applicantId: 3, coverLetter: 'SwiftUI crash fixing is my speciality.', proposedBudget: 1000, status: 'accepted' },
      { gigId: 4, applicantId: 2, coverLetter: 'I can help too.', proposedBudget: 900, status: 'rejected' },
      { gigId: 5, applicantId: 5, coverLetter: 'I write docs people read.', proposedBudget: 600, status: 'accepted' },
      { gigId: 7, applicantId: 5, coverLetter: 'SEO is what I do.', proposedBudget: 800, status: 'pending' }
    ])
    await t.insert(assignments).values([
      { gigId: 4, applicationId: 4, workerId: 3, agreedAmount: 1000, paymentStatus: 'escrowed' },
      { gigId: 5, applicationId: 6, workerId: 5, agreedAmount: 600, paymentStatus: 'paid' }
    ])
    await t.insert(submissions).values([
      { gigId: 4, assignmentId: 1, submitterId: 3, content: 'First batch of crash fixes: PR #12.', status: 'changes_requested', reviewNotes: 'Please add a test for the login crash.' },
      { gigId: 5, assignmentId: 2, submitterId: 5, content: 'Docs for all twenty endpoints.', status: 'approved', reviewNotes: 'Great work.' }
    ])
  })
}

/** Seeds the demo dataset when the database is empty; returns whether it did. */
export async function seedDemoIfEmpty (db: Db): Promise<boolean> {
  if (!(await isEmpty(db))) return false
  await seedDemo(db)
  return true
}

/** Deterministic PRNG (mulberry32): `--gigs N` and the bench's request lists are the same every run. */
export function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const WORDS = ['api', 'cache', 'dashboard', 'mobile', 'landing', 'report', 'pipeline', 'design', 'migration', 'audit',
  'integration', 'video', 'newsletter', 'redesign', 'chatbot', 'analytics', 'checkout', 'search', 'onboarding', 'billing']

export interface BulkOptions { gigs: number, seed?: number, batch?: number, onProgress?: (done: number) => void }

/** Appends a deterministic large dataset: N gigs, N/10 users, about N applications. */
export async function seedBulk (db: Db, opts: BulkOptions): Promise<{ users: number, gigs: number, applications: number }> {
  const rand = mulberry32(opts.seed ?? 42)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!
  const batch = opts.batch ?? 2000
  await seedCatalog(db)
  const userCount = Math.max(10, Math.ceil(opts.gigs / 10))
  const [before] = await db.select({ max: sql<number>`coalesce(max(id), 0)::int` }).from(users)
  const firstUser = (before?.max ?? 0) + 1
  for (let i = 0; i < userCount; i += batch) {
    const rows = []
    for (let j = i; j < Math.min(userCount, i + batch); j++) {
      rows.push({
        email: `user${firstUser + j}-${opts.seed ?? 42}@bulk.gig.local`,
        name: `User ${firstUser + j}`,
        headline: `${pick(WORDS)} specialist`,
        skills: [pick(SKILLS), pick(SKILLS)].filter((v, k, a) => a.indexOf(v) === k),
        rating: Math.round(rand() * 500) / 100
      })
    }
    await db.insert(users).values(rows)
  }
  const [gbefore] = await db.select({ max: sql<number>`coalesce(max(id), 0)::int` }).from(gigs)
  const firstGig = (gbefore?.max ?? 0) + 1
  const statuses = ['open', 'open', 'open', 'open', 'in_progress', 'completed', 'draft', 'cancelled']
  let done = 0
  for (let i = 0; i < opts.gigs; i += batch) {
    const rows = []
    for (let j = i; j < Math.min(opts.gigs, i + batch); j++) {
      const min = 100 + Math.floor(rand() * 50) * 50
      rows.push({
        title: `${pick(WORDS)} ${pick(WORDS)} for a ${pick(WORDS)} project`,
        description: `We need help with ${pick(WORDS)}, ${pick(WORDS)} and ${pick(WORDS)}. Remote, flexible hours.`,
        category: pick(CATEGORIES)[0],
        skills: [pick(SKILLS), pick(SKILLS), pick(SKILLS)].filter((v, k, a) => a.indexOf(v) === k),
        budgetMin: min,
        budgetMax: min + Math.floor(rand() * 40) * 50,
        status: pick(statuses),
        featured: rand() < 0.01,
        postedBy: firstUser + Math.floor(rand() * userCount)
      })
    }
    await db.insert(gigs).values(rows)
    done += rows.length
    opts.onProgress?.(done)
  }
  // About one application per gig, unique per (gig, applicant).
  let apps = 0
  for (let i = 0; i < opts.gigs; i += batch) {
    const rows = []
    for (let j = i; j < Math.min(opts.gigs, i + batch); j++) {
      const n = Math.floor(rand() * 3)
      const seen = new Set<number>()
      for (let k = 0; k < n; k++) {
        const applicant = firstUser + Math.floor(rand() * userCount)
        if (seen.has(applicant)) continue
        seen.add(applicant)
        rows.push({ gigId: firstGig + j, applicantId: applicant, coverLetter: `I can do ${pick(WORDS)}.`, proposedBudget: 100 + Math.floor(rand() * 100) * 25 })
      }
    }
    if (rows.length > 0) await db.insert(applications).values(rows)
    apps += rows.length
  }
  return { users: userCount, gigs: opts.gigs, applications: apps }
}
