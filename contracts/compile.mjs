#!/usr/bin/env node
// Compiles every contracts/src/*.sol with the pinned solc-js and writes one artifact per contract to
// contracts/artifacts/<ContractName>.json: {abi, bytecode, contractName, deployedBytecode,
// solcVersion, sourceHash}. The output is deterministic (fixed settings, sorted keys, two-space
// indent, trailing newline): compiling unchanged sources rewrites byte-identical files.
//
//   node compile.mjs           compile and write artifacts/ (stale artifacts are removed)
//   node compile.mjs --check   compile in memory; exit 1 listing every artifact that differs
//                              from the file in artifacts/ (missing, changed or stale)
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { dirname, join, normalize, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = dirname(fileURLToPath(import.meta.url))
const SRC_DIR = join(ROOT, 'src')
const ARTIFACTS_DIR = join(ROOT, 'artifacts')
const NODE_MODULES = join(ROOT, 'node_modules')

// Fixed compiler settings: changing any of them changes every artifact.
const SETTINGS = {
  evmVersion: 'cancun',
  optimizer: { enabled: true, runs: 200 },
  outputSelection: {
    '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object', 'metadata'] }
  }
}

function fail (message) {
  console.error(`compile: ${message}`)
  process.exit(2)
}

const solc = await import('solc')
  .then((module) => module.default)
  .catch((error) => fail(`cannot load solc (run npm ci in contracts/): ${error.message}`))

function pinnedSolcVersion () {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
  return pkg.devDependencies?.solc ?? pkg.dependencies?.solc
}

function loadSources () {
  const files = readdirSync(SRC_DIR).filter((name) => name.endsWith('.sol')).sort()
  if (files.length === 0) fail(`no .sol files in ${SRC_DIR}`)
  const sources = {}
  for (const file of files) sources[`src/${file}`] = { content: readFileSync(join(SRC_DIR, file), 'utf8') }
  return sources
}

// Imports that are not in src/ (e.g. @openzeppelin/contracts/...) come from node_modules/.
const loaded = new Map()
function findImports (path) {
  const resolved = normalize(join(NODE_MODULES, path))
  if (!resolved.startsWith(NODE_MODULES + sep)) return { error: `import outside node_modules: ${path}` }
  if (!existsSync(resolved)) return { error: `not found: ${path} (run npm ci in contracts/)` }
  const content = readFileSync(resolved, 'utf8')
  loaded.set(path, content)
  return { contents: content }
}

// Sorts object keys recursively (arrays keep their order) so that JSON.stringify is canonical.
function sortKeys (value) {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, sortKeys(value[key])]))
  }
  return value
}

function render (artifact) {
  return JSON.stringify(sortKeys(artifact), null, 2) + '\n'
}

// sha256 over the contract's own file and every file it imports, each as
// "<path>\0<content>\0", sorted by path.
function sourceHash (sourcePaths, contentOf) {
  const hash = createHash('sha256')
  for (const path of [...sourcePaths].sort()) hash.update(`${path}\0${contentOf(path)}\0`)
  return `sha256:${hash.digest('hex')}`
}

function compile () {
  const pinned = pinnedSolcVersion()
  const version = solc.version()
  if (!version.startsWith(`${pinned}+`)) {
    fail(`node_modules has solc ${version} but package.json pins ${pinned} (run npm ci in contracts/)`)
  }
  const solcVersion = version.replace(/\.Emscripten\.clang$/, '')

  const sources = loadSources()
  const input = { language: 'Solidity', sources, settings: SETTINGS }
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }))

  const errors = (output.errors ?? []).filter((e) => e.severity === 'error')
  for (const diagnostic of output.errors ?? []) console.error(diagnostic.formattedMessage)
  if (errors.length > 0) fail(`${errors.length} compilation error(s)`)

  const contentOf = (path) => sources[path]?.content ?? loaded.get(path)
  const artifacts = new Map()
  for (const file of Object.keys(sources)) {
    for (const [contractName, contract] of Object.entries(output.contracts?.[file] ?? {})) {
      const bytecode = contract.evm.bytecode.object
      if (bytecode === '') continue // interfaces and abstract contracts
      if (artifacts.has(contractName)) fail(`two contracts are named ${contractName}`)
      const metadata = JSON.parse(contract.metadata)
      artifacts.set(`${contractName}.json`, render({
        contractName,
        abi: contract.abi,
        bytecode: `0x${bytecode}`,
        deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
        solcVersion,
        sourceHash: sourceHash(Object.keys(metadata.sources), contentOf)
      }))
    }
  }
  return artifacts
}

function existingArtifacts () {
  if (!existsSync(ARTIFACTS_DIR)) return []
  return readdirSync(ARTIFACTS_DIR).filter((name) => name.endsWith('.json')).sort()
}

function check (artifacts) {
  const problems = []
  for (const [name, text] of [...artifacts].sort()) {
    const path = join(ARTIFACTS_DIR, name)
    if (!existsSync(path)) problems.push(`missing: artifacts/${name}`)
    else if (readFileSync(path, 'utf8') !== text) problems.push(`differs: artifacts/${name}`)
  }
  for (const name of existingArtifacts()) {
    if (!artifacts.has(name)) problems.push(`stale:   artifacts/${name} (no such contract in src/)`)
  }
  if (problems.length > 0) {
    console.error('compile --check: artifacts are not up to date with src/:')
    for (const problem of problems) console.error(`  ${problem}`)
    console.error('run `npm run compile` in contracts/ and commit artifacts/')
    process.exit(1)
  }
  console.log(`compile --check: ${artifacts.size} artifacts up to date`)
}

function write (artifacts) {
  mkdirSync(ARTIFACTS_DIR, { recursive: true })
  for (const name of existingArtifacts()) {
    if (!artifacts.has(name)) {
      unlinkSync(join(ARTIFACTS_DIR, name))
      console.log(`removed artifacts/${name}`)
    }
  }
  for (const [name, text] of [...artifacts].sort()) {
    const path = join(ARTIFACTS_DIR, name)
    if (existsSync(path) && readFileSync(path, 'utf8') === text) continue
    writeFileSync(path, text)
    console.log(`wrote artifacts/${name}`)
  }
  console.log(`compiled ${artifacts.size} contracts with solc ${solc.version()}`)
}

const args = process.argv.slice(2)
const unknown = args.filter((arg) => arg !== '--check')
if (unknown.length > 0) fail(`unknown argument(s): ${unknown.join(' ')} (usage: node compile.mjs [--check])`)
const artifacts = compile()
if (args.includes('--check')) check(artifacts)
else write(artifacts)
