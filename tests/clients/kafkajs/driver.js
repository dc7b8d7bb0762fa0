#!/usr/bin/env node
// KafkaJS 2 client driver for the kafka-proxy end-to-end tests (contract: ../DRIVERS.md).
//
//   node driver.js COMMAND --bootstrap HOST:PORT [--timeout SECS] [-X key=value]... [options]
//
//   cluster [--topic T]
//   produce --topic T --count N [--size B] [--compression none|gzip] [--partitions P]
//           [--replication R] [--acks all|1|0] [--idempotent] [--linger-ms M (ignored: no linger)]
//   consume --topic T --count N [--group G] [--group-protocol classic]
//           [--isolation read_uncommitted|read_committed]
//
// Prints one JSON object as the last line of stdout (logs go to stderr); on failure
// {"error": "..."} and exit 1. A watchdog ends the process at --timeout.
'use strict'

const crypto = require('crypto')
const fs = require('fs')

// --- output, exactly once ------------------------------------------------------------------

let finished = false
let stageName = 'starting'
let lastClientError = null // the latest error KafkaJS logged: a timeout then says what went wrong

const withLastError = text => (lastClientError ? `${text} (last client error: ${lastClientError})` : text)

// Names what the driver is doing, for the watchdog's error.
function stage(what) {
  stageName = what
  log(`-- ${what}`)
}

function log(...args) {
  process.stderr.write(args.join(' ') + '\n')
}

// JSON with sorted keys, like the Python drivers' json.dumps(sort_keys=True).
function sortedJson(v) {
  if (Array.isArray(v)) return '[' + v.map(sortedJson).join(', ') + ']'
  if (v !== null && typeof v === 'object') {
    return (
      '{' +
      Object.keys(v)
        .sort()
        .map(k => JSON.stringify(k) + ': ' + sortedJson(v[k]))
        .join(', ') +
      '}'
    )
  }
  return JSON.stringify(v === undefined ? null : v)
}

function finish(obj, code) {
  if (finished) return
  finished = true
  fs.writeSync(1, sortedJson(obj) + '\n')
  process.exit(code)
}

class Failure extends Error {}

function errorText(e) {
  if (e instanceof Failure) return e.message
  const name = e && e.name ? e.name : 'Error'
  let text = `${name}: ${e && e.message ? e.message : String(e)}`
  // KafkaJS wraps the cause of retried failures (KafkaJSNumberOfRetriesExceeded and others).
  if (e && e.cause && e.cause.message && !text.includes(e.cause.message)) {
    text += ` (cause: ${e.cause.name || 'Error'}: ${e.cause.message})`
  }
  return text
}

// --- arguments -----------------------------------------------------------------------------

const COMMANDS = ['cluster', 'produce', 'consume']
const VALUE_OPTIONS = new Set([
  'bootstrap', 'timeout', 'topic', 'count', 'size', 'compression', 'partitions', 'replication',
  'acks', 'linger-ms', 'group', 'group-protocol', 'isolation',
])
const FLAG_OPTIONS = new Set(['idempotent'])

function parseArgs(argv) {
  const o = {
    command: null,
    props: {},
    timeout: 60,
    size: 100,
    compression: 'none',
    partitions: 3,
    replication: 1,
    acks: 'all',
    'group-protocol': 'classic',
    isolation: 'read_uncommitted',
    idempotent: false,
  }
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i]
    if (a === '-X' || a.startsWith('-X')) {
      const kv = a === '-X' ? argv[++i] : a.slice(2)
      if (kv === undefined) throw new Failure('bad arguments: -X needs key=value')
      const eq = kv.indexOf('=')
      if (eq <= 0) throw new Failure(`bad -X ${JSON.stringify(kv)}: want key=value`)
      o.props[kv.slice(0, eq).trim()] = kv.slice(eq + 1).trim()
    } else if (a.startsWith('--')) {
      let name = a.slice(2)
      let val
      const eq = name.indexOf('=')
      if (eq >= 0) {
        val = name.slice(eq + 1)
        name = name.slice(0, eq)
      }
      if (FLAG_OPTIONS.has(name)) {
        o[name] = true
      } else if (VALUE_OPTIONS.has(name)) {
        if (val === undefined) val = argv[++i]
        if (val === undefined) throw new Failure(`bad arguments: --${name} needs a value`)
        o[name] = val
      } else {
        throw new Failure(`bad arguments: unknown option --${name}`)
      }
    } else if (o.command === null) {
      o.command = a
    } else {
      throw new Failure(`bad arguments: unexpected ${JSON.stringify(a)}`)
    }
  }
  if (!o.command) throw new Failure(`bad arguments: missing command (${COMMANDS.join(', ')})`)
  if (!COMMANDS.includes(o.command)) {
    throw new Failure(`unknown command ${JSON.stringify(o.command)} (KafkaJS driver: ${COMMANDS.join(', ')})`)
  }
  if (!o.bootstrap) throw new Failure('bad arguments: --bootstrap HOST:PORT is required')
  const num = (name, min) => {
    if (o[name] === undefined) return
    const n = Number(o[name])
    if (!Number.isInteger(n) || n < min) throw new Failure(`bad arguments: --${name} ${o[name]}`)
    o[name] = n
  }
  o.timeout = Number(o.timeout)
  if (!(o.timeout > 0)) throw new Failure('bad arguments: --timeout must be > 0')
  ;['size', 'partitions', 'replication', 'linger-ms'].forEach(n => num(n, n === 'size' ? 0 : 1))
  num('count', 0)
  if (o.command !== 'cluster') {
    if (!o.topic) throw new Failure(`${o.command} needs --topic`)
    if (o.count === undefined) throw new Failure(`${o.command} needs --count N`)
  }
  if (!['all', '-1', '1', '0'].includes(String(o.acks))) throw new Failure(`bad arguments: --acks ${o.acks}`)
  if (!['classic', 'consumer'].includes(o['group-protocol'])) {
    throw new Failure(`bad arguments: --group-protocol ${o['group-protocol']}`)
  }
  if (!['read_uncommitted', 'read_committed'].includes(o.isolation)) {
    throw new Failure(`bad arguments: --isolation ${o.isolation}`)
  }
  if (!o.group) o.group = `matrix-kafkajs-${crypto.randomBytes(6).toString('hex')}`
  return o
}

// --- deterministic records -----------------------------------------------------------------

const pad8 = i => String(i).padStart(8, '0')
const value = (i, size) => Buffer.from(('v' + pad8(i)).padEnd(size, '.'), 'latin1')
const key = i => Buffer.from('k' + pad8(i), 'latin1')

function sha256(values) {
  const h = crypto.createHash('sha256')
  for (const v of [...values].sort(Buffer.compare)) {
    h.update(v)
    h.update('\n')
  }
  return h.digest('hex')
}

function distinct(values) {
  const seen = new Map()
  for (const v of values) seen.set(v.toString('latin1'), v)
  return [...seen.values()]
}

const sleep = ms => new Promise(r => setTimeout(r, ms))

// --- the client ----------------------------------------------------------------------------

function clientConfig(o, deadline) {
  const { Kafka, logLevel } = require('kafkajs')
  const p = o.props
  const known = new Set([
    'security.protocol', 'sasl.mechanism', 'sasl.mechanisms', 'sasl.username', 'sasl.password',
    'ssl.ca.location', 'ssl.certificate.location', 'ssl.key.location', 'ssl.key.password',
    'ssl.endpoint.identification.algorithm', 'client.id',
  ])
  for (const k of Object.keys(p)) {
    if (!known.has(k)) throw new Failure(`KafkaJS driver cannot map -X ${k}`)
  }
  const proto = (p['security.protocol'] || 'PLAINTEXT').toUpperCase()
  if (!['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'].includes(proto)) {
    throw new Failure(`unknown security.protocol ${proto}`)
  }
  const cfg = {
    clientId: p['client.id'] || 'kafka-proxy-kafkajs',
    brokers: o.bootstrap.split(',').map(s => s.trim()),
    connectionTimeout: 5000,
    authenticationTimeout: 10000,
    requestTimeout: Math.max(1000, Math.min(30000, deadline.leftMs())),
    enforceRequestTimeout: true,
    retry: { initialRetryTime: 100, maxRetryTime: 2000, retries: 10 },
    logLevel: logLevel.WARN,
    logCreator: () => ({ namespace, level, label, log: entry }) => {
      const { message, timestamp, logger, ...extra } = entry
      if (level <= logLevel.ERROR) lastClientError = `${namespace}: ${message}${extra.error ? ': ' + extra.error : ''}`
      log(`[kafkajs ${label}] ${namespace}: ${message} ${JSON.stringify(extra)}`)
    },
  }
  if (proto === 'SSL' || proto === 'SASL_SSL') {
    const ssl = {}
    if (p['ssl.ca.location']) ssl.ca = [fs.readFileSync(p['ssl.ca.location'], 'utf8')]
    if (p['ssl.certificate.location']) ssl.cert = fs.readFileSync(p['ssl.certificate.location'], 'utf8')
    if (p['ssl.key.location']) ssl.key = fs.readFileSync(p['ssl.key.location'], 'utf8')
    if (p['ssl.key.password']) ssl.passphrase = p['ssl.key.password']
    const ident = p['ssl.endpoint.identification.algorithm']
    if (ident !== undefined && ident.toLowerCase() !== 'https') ssl.checkServerIdentity = () => undefined
    cfg.ssl = Object.keys(ssl).length ? ssl : true
  }
  if (proto === 'SASL_PLAINTEXT' || proto === 'SASL_SSL') {
    const mech = (p['sasl.mechanism'] || p['sasl.mechanisms'] || 'PLAIN').toLowerCase()
    if (!['plain', 'scram-sha-256', 'scram-sha-512'].includes(mech)) {
      throw new Failure(`KafkaJS driver does not support sasl.mechanism ${mech.toUpperCase()}`)
    }
    cfg.sasl = { mechanism: mech, username: p['sasl.username'] || '', password: p['sasl.password'] || '' }
  }
  return new Kafka(cfg)
}

class Deadline {
  constructor(seconds) {
    this.end = Date.now() + seconds * 1000
  }
  leftMs() {
    return Math.max(0, this.end - Date.now())
  }
  expired() {
    return Date.now() >= this.end
  }
}

// Connected admin clients, disconnected at the end (a failure exits without waiting for them).
async function withAdmin(kafka, fn) {
  const admin = kafka.admin()
  stage('connecting the admin client')
  await admin.connect()
  try {
    return await fn(admin)
  } finally {
    await admin.disconnect().catch(() => {})
  }
}

async function cluster(kafka, o) {
  return withAdmin(kafka, async admin => {
    stage('describing the cluster')
    const d = await admin.describeCluster()
    const brokers = d.brokers
      .map(b => ({ id: b.nodeId, host: b.host, port: b.port }))
      .sort((a, b) => a.id - b.id)
    const out = {
      cluster_id: d.clusterId,
      controller_id: d.controller === null || d.controller === undefined ? -1 : d.controller,
      brokers,
    }
    if (o.topic) {
      stage('reading the topic metadata')
      const md = await admin.fetchTopicMetadata({ topics: [o.topic] })
      const byId = new Map(brokers.map(b => [b.id, b]))
      out.leaders = md.topics[0].partitions
        .map(p => {
          const b = byId.get(p.leader)
          return { partition: p.partitionId, leader: p.leader, host: b ? b.host : null, port: b ? b.port : null }
        })
        .sort((a, b) => a.partition - b.partition)
    }
    return out
  })
}

async function ensureTopic(kafka, o, deadline) {
  await withAdmin(kafka, async admin => {
    stage(`creating topic ${o.topic}`)
    const created = await admin.createTopics({
      topics: [{ topic: o.topic, numPartitions: o.partitions, replicationFactor: o.replication }],
      waitForLeaders: true,
      timeout: Math.max(1000, Math.min(15000, deadline.leftMs())),
    })
    log(created ? `created topic ${o.topic}` : `topic ${o.topic} exists`)
    while (!deadline.expired()) {
      try {
        const md = await admin.fetchTopicMetadata({ topics: [o.topic] })
        const parts = md.topics[0].partitions
        if (parts.length > 0 && parts.every(p => p.partitionErrorCode === 0 && p.leader >= 0)) return
      } catch (e) {
        log(`waiting for topic ${o.topic}: ${errorText(e)}`)
      }
      await sleep(200)
    }
    throw new Failure(`topic ${o.topic} never showed leaders for all partitions`)
  })
}

const CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd']
// KafkaJS 2 ships gzip only; snappy comes from kafkajs-snappy (pure JavaScript, registered at
// start-up so consumers can read it too). The lz4 and zstd packages need native node-gyp builds:
// @kafkajs/zstd's (cppzst 2.0.6) fails on this Node.js, and kafkajs-lz4's (lz4 0.6) is an
// install script npm 11 does not run unapproved; so those two codecs are refused.
const EXTRA_CODEC_PACKAGES = { lz4: 'kafkajs-lz4', zstd: '@kafkajs/zstd' }
{
  const { CompressionTypes, CompressionCodecs } = require('kafkajs')
  CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy')
}

async function produce(kafka, o, deadline) {
  const { CompressionTypes, Partitioners } = require('kafkajs')
  if (!CODECS.includes(o.compression)) {
    throw new Failure(`unknown compression ${JSON.stringify(o.compression)} (one of ${CODECS.join(', ')})`)
  }
  if (EXTRA_CODEC_PACKAGES[o.compression]) {
    throw new Failure(
      `compression ${o.compression} is not supported by the KafkaJS driver: KafkaJS 2 ships gzip only, ` +
        `and ${o.compression} needs the extra package ${EXTRA_CODEC_PACKAGES[o.compression]}, not installed`
    )
  }
  const compression = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP, snappy: CompressionTypes.Snappy }[o.compression]
  const acks = { all: -1, '-1': -1, 1: 1, 0: 0 }[String(o.acks)]
  if (o.idempotent && acks !== -1) throw new Failure('--idempotent needs --acks all')
  if (o['linger-ms'] !== undefined) log('KafkaJS has no linger: --linger-ms ignored')
  await ensureTopic(kafka, o, deadline)

  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
    idempotent: o.idempotent,
    ...(o.idempotent ? { maxInFlightRequests: 1 } : {}),
  })
  stage('connecting the producer')
  await producer.connect()
  stage(`producing ${o.count} records`)
  const acked = []
  const errors = new Set()
  const CHUNK = 500
  try {
    for (let lo = 0; lo < o.count; lo += CHUNK) {
      if (deadline.expired()) throw new Failure('deadline exceeded while producing')
      const values = []
      const messages = []
      for (let i = lo; i < Math.min(o.count, lo + CHUNK); i++) {
        const v = value(i, o.size)
        values.push(v)
        messages.push({ key: key(i), value: v })
      }
      try {
        await producer.send({
          topic: o.topic,
          messages,
          acks,
          compression,
          timeout: Math.max(1000, Math.min(30000, deadline.leftMs())),
        })
        acked.push(...values)
      } catch (e) {
        log(`send failed: ${errorText(e)}`)
        errors.add(errorText(e))
      }
    }
  } finally {
    await producer.disconnect().catch(() => {})
  }
  return { sent: o.count, acked: acked.length, sha256: sha256(acked), errors: [...errors].sort().slice(0, 10) }
}

async function consume(kafka, o, deadline, timeoutSecs) {
  if (o['group-protocol'] !== 'classic') {
    throw new Failure('KafkaJS does not support --group-protocol consumer (KIP-848); only classic')
  }
  const consumer = kafka.consumer({
    groupId: o.group,
    readUncommitted: o.isolation === 'read_uncommitted',
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: 500,
  })
  const values = []
  const last = new Map() // partition -> highest offset read
  let crashed = null
  // KafkaJS restarts the consumer itself after a retriable error (restart: true), such as
  // COORDINATOR_LOAD_IN_PROGRESS on a cluster whose offsets topic is still being created; only a
  // crash it does not recover from ends the run.
  consumer.on(consumer.events.CRASH, ev => {
    if (ev.payload.restart) log(`consumer restarts after: ${errorText(ev.payload.error)}`)
    else crashed = ev.payload.error
  })
  // Keep time for the commit, the close and the offset read-back.
  const reserveMs = Math.max(1500, Math.min(8000, timeoutSecs * 150))
  const stopAt = deadline.end - reserveMs
  stage('connecting the consumer')
  await consumer.connect()
  try {
    stage(`consuming ${o.count} records in group ${o.group}`)
    await consumer.subscribe({ topics: [o.topic], fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          values.push(m.value)
          const off = Number(m.offset)
          if (!last.has(batch.partition) || off > last.get(batch.partition)) last.set(batch.partition, off)
        }
      },
    })
    let doneAt = null
    for (;;) {
      if (crashed) throw crashed
      const now = Date.now()
      if (now >= stopAt || (doneAt !== null && now >= doneAt)) break
      if (doneAt === null && values.length >= o.count) doneAt = now + 1000
      await sleep(20)
    }
    if (last.size > 0) {
      stage('committing')
      await consumer.commitOffsets(
        [...last].map(([partition, off]) => ({ topic: o.topic, partition, offset: String(off + 1) }))
      )
    }
  } finally {
    stage('closing the consumer')
    await consumer.disconnect().catch(e => log(`disconnect: ${errorText(e)}`))
  }
  const committed = await withAdmin(kafka, async admin => {
    stage('reading the committed offsets back')
    const res = await admin.fetchOffsets({ groupId: o.group, topics: [o.topic] })
    const out = {}
    for (const t of res) {
      if (t.topic !== o.topic) continue
      for (const p of [...t.partitions].sort((a, b) => a.partition - b.partition)) {
        const off = Number(p.offset)
        if (off >= 0) out[String(p.partition)] = off
      }
    }
    return out
  })
  return {
    count: values.length,
    sha256: sha256(distinct(values)),
    duplicates: values.length - distinct(values).length,
    committed,
  }
}

// --- main ----------------------------------------------------------------------------------

async function main() {
  // The watchdog needs --timeout before anything can block.
  let timeout = 60
  const argv = process.argv.slice(2)
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--timeout' && Number(argv[i + 1]) > 0) timeout = Number(argv[i + 1])
    else if (argv[i].startsWith('--timeout=') && Number(argv[i].slice(10)) > 0) timeout = Number(argv[i].slice(10))
  }
  setTimeout(() => finish({ error: withLastError(`deadline of ${timeout}s exceeded while ${stageName}`) }, 1), Math.max(100, timeout * 1000 - 400))
  process.on('unhandledRejection', e => {
    log(`unhandled rejection: ${e && e.stack ? e.stack : e}`)
  })
  try {
    const o = parseArgs(argv)
    const deadline = new Deadline(Math.max(0.5, o.timeout - 1.0))
    log(`kafkajs ${require('kafkajs/package.json').version}, node ${process.version}`)
    const kafka = clientConfig(o, deadline)
    let result
    if (o.command === 'cluster') result = await cluster(kafka, o)
    else if (o.command === 'produce') result = await produce(kafka, o, deadline)
    else result = await consume(kafka, o, deadline, o.timeout)
    finish(result, 0)
  } catch (e) {
    if (!(e instanceof Failure)) log(e && e.stack ? e.stack : String(e))
    finish({ error: errorText(e) }, 1)
  }
}

main()
