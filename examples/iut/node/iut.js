#!/usr/bin/env node
// An activity system in JavaScript speaking activitykit's IUT protocol v1
// (docs/iut-protocol.md): JSON Lines on stdin/stdout, one reply per request.
//
//   activitykit conform --iut "node examples/iut/node/iut.js"
//
// Written from the protocol document alone (no code shared with the Python reference),
// so it shows what a second implementation needs, and that the suite can judge it.
"use strict";

const readline = require("readline");

const PROTOCOL = "activitykit-iut/1";
const START = new Set(["Queued", "Scheduled", "Waiting", "Blocked"]);
const SERVER_TYPES = new Set([
  "SyncPocketRequest", "GenerateUsgReportActivity", "RemoveComputerActivity", "ArchiveRequest",
]);
const CLIENT_TYPES = new Set([
  "ResynchronizeRequest", "CreateUserRequest", "EditUserRequest", "DeleteUserRequest",
  "CreateGroupRequest", "AddGroupMemberRequest", "RemoveGroupMemberRequest", "LockUserRequest",
  "UnlockUserRequest", "ChangePackagesRequest", "UpgradeAllPackagesRequest",
  "ChangePackageProfilesRequest", "ChangeUpgradeProfilesRequest", "UpgradeKernelPackageRequest",
  "DowngradeKernelPackageRequest", "ReleaseUpgradeRequest", "ChangeRepositoryProfilesRequest",
  "SignalProcessRequest", "ExecuteScriptRequest", "RestartRequest", "ShutdownRequest",
  "InstallSnaps", "RemoveSnaps", "RefreshSnaps", "HoldSnaps", "UnholdSnaps", "UsgActivity",
  "AttachProRequest", "DetachProRequest", "GenerateFDERecoveryKeyRequest",
  "StartChildComputerActivity", "StopChildComputerActivity", "DeleteChildComputerActivity",
  "SetDefaultChildComputerActivity", "ShutdownHostComputerActivity",
  "CreateChildComputerActivity", "DeleteUnmanagedWSLInstanceActivity",
]);
const PREFETCH = 1;

class Refused extends Error {}
class Malformed extends Error {}

class System {
  constructor() {
    this.profile = "result-wins";
    this.reset();
  }

  reset() {
    this.clock = 0;
    this.acts = new Map(); // id -> activity, insertion order = creation order
    this.nextOp = 1;
    this.ops = new Map(); // operation-id -> {activity, computer}
    this.outbox = new Map(); // computer -> [[op, status]]
    this.queue = []; // server activity ids, head first
    this.held = new Map(); // handler -> [activity ids]
    this.attempts = new Map();
    this.events = [];
  }

  // -- helpers ------------------------------------------------------------------------------
  field(req, name, type, required = true) {
    const v = req[name];
    if (v === undefined || v === null) {
      if (required) throw new Malformed(`field '${name}' is required for '${req.cmd}'`);
      return null;
    }
    const ok = type === "array" ? Array.isArray(v) : typeof v === type;
    if (!ok) throw new Malformed(`field '${name}' must be a ${type}, got ${JSON.stringify(v)}`);
    return v;
  }

  get(req) {
    const id = this.field(req, "activity", "string");
    const a = this.acts.get(id);
    if (!a) throw new Refused(`unknown activity '${id}'`);
    return a;
  }

  emit(event, fields) {
    this.events.push({ event, ...fields });
  }

  move(a, to, cause) {
    if (a.state === "In Progress" && to === "Canceled") a.canceledRunning = true;
    this.emit("transition", { activity: a.id, from: a.state, to, cause });
    a.state = to;
  }

  toQueued(a, cause) {
    this.move(a, "Queued", cause);
    if (a.kind === "server") this.enqueue(a);
  }

  // Due or released: to Queued, or (release "direct") ready in its state: a server one is
  // published and moved by the consume that takes it, a client one by its next exchange.
  makeReady(a, cause) {
    if (a.release !== "direct") return this.toQueued(a, cause);
    a.ready = true;
    if (a.kind === "server") this.enqueue(a);
  }

  enqueue(a) {
    this.queue.push(a.id);
    this.emit("enqueue", { activity: a.id });
  }

  verdict(a) {
    const deps = a.dependsOn.map((d) => this.acts.get(d));
    if (deps.some((d) => d.state === "Failed" || d.state === "Canceled")) return "cancel";
    if (!deps.every((d) => d.state === "Succeeded")) return "wait";
    if (a.progressOf !== null) {
      const p = this.acts.get(a.progressOf).progress;
      if (p === null || p < a.threshold) return "wait";
    }
    return "release";
  }

  // Judge Waiting activities until nothing changes; client activities of the exchanging
  // computer are returned (the exchange delivers them: Waiting -> In Progress).
  propagate(exchanging = null) {
    const ready = new Set();
    let changed = true;
    while (changed) {
      changed = false;
      for (const a of this.acts.values()) {
        if (a.state !== "Waiting" || ready.has(a.id) || a.ready) continue;
        const v = this.verdict(a);
        if (v === "cancel") {
          this.emit("cancel", { activity: a.id });
          this.move(a, "Canceled", "dependency");
          changed = true;
        } else if (v === "release") {
          if (a.kind === "client" && a.computer === exchanging) ready.add(a.id);
          else {
            this.makeReady(a, "released");
            changed = true;
          }
        }
      }
    }
    return ready;
  }

  publishDue() {
    for (const a of this.acts.values()) {
      const due = a.state === "Scheduled" && a.deliverAfter <= this.clock;
      if (a.kind === "server" && due && !a.ready) {
        this.makeReady(a, "due");
      }
    }
  }

  settle(a, status, cause) {
    const to = status === "succeeded" ? "Succeeded" : "Failed";
    if (a.state === "In Progress") {
      this.move(a, to, cause);
      return true;
    }
    const late = a.state === "Canceled" && a.kind === "client"
      && this.profile === "result-wins" && a.canceledRunning;
    if (late) {
      a.canceledRunning = false;
      this.move(a, to, cause);
      return true;
    }
    return false;
  }

  status(req) {
    const s = this.field(req, "status", "string");
    if (s !== "succeeded" && s !== "failed") {
      throw new Malformed(`status must be 'succeeded' or 'failed', got '${s}'`);
    }
    return s;
  }

  // -- commands ------------------------------------------------------------------------------
  hello(req) {
    const version = this.field(req, "protocol", "string");
    if (version !== PROTOCOL) throw new Refused(`protocol '${version}' not supported`);
    const profile = this.field(req, "profile", "string", false) || "result-wins";
    if (profile !== "result-wins" && profile !== "cancel-sticky") {
      throw new Refused(`unknown profile '${profile}'`);
    }
    this.profile = profile;
    this.reset();
    return { protocol: PROTOCOL, implementation: "node-example" };
  }

  create(req) {
    const id = this.field(req, "activity", "string");
    const kind = this.field(req, "kind", "string");
    const type = this.field(req, "type", "string");
    const state = this.field(req, "state", "string");
    const computer = this.field(req, "computer", "string", false);
    const after = this.field(req, "deliver_after", "number", false);
    const deps = this.field(req, "depends_on", "array", false) || [];
    const progressOf = this.field(req, "progress_of", "string", false);
    const threshold = this.field(req, "threshold", "number", false);
    const release = this.field(req, "release", "string", false) || "queue";
    if (this.acts.has(id)) throw new Refused(`activity '${id}' already exists`);
    if (kind !== "client" && kind !== "server") throw new Refused(`unknown kind '${kind}'`);
    const typeKind = SERVER_TYPES.has(type) ? "server" : CLIENT_TYPES.has(type) ? "client" : null;
    if (typeKind === null) throw new Refused(`unknown activity type '${type}'`);
    if (typeKind !== kind) throw new Refused(`type ${type} is a ${typeKind} activity`);
    if (!START.has(state)) throw new Refused(`'${state}' is not a start state`);
    if (kind === "client" && computer === null) throw new Refused("a client activity needs a computer");
    if (state === "Scheduled" && after === null) throw new Refused("Scheduled needs deliver_after");
    for (const d of progressOf === null ? deps : [...deps, progressOf]) {
      if (typeof d !== "string" || !this.acts.has(d)) throw new Refused(`unknown dependency '${d}'`);
    }
    const waits = deps.length > 0 || progressOf !== null;
    if (waits && state !== "Waiting" && state !== "Blocked") {
      throw new Refused("depends_on/progress_of are only for Waiting or Blocked activities");
    }
    if (state === "Waiting" && !waits) throw new Refused("Waiting needs depends_on or progress_of");
    if ((progressOf === null) !== (threshold === null)) {
      throw new Refused("progress_of and threshold go together");
    }
    if (threshold !== null && (threshold < 0 || threshold > 1)) {
      throw new Refused(`threshold ${threshold} is outside [0, 1]`);
    }
    if (release !== "queue" && release !== "direct") {
      throw new Refused(`release '${release}' unknown; accepted: queue, direct`);
    }
    const a = {
      id, kind, type, state, computer: kind === "client" ? computer : null,
      deliverAfter: after, dependsOn: deps, progressOf, threshold,
      canceledRunning: false, progress: null, release, ready: false,
    };
    this.acts.set(id, a);
    if (kind === "server" && state === "Queued") this.enqueue(a);
    this.publishDue();
    this.propagate();
    return {};
  }

  exchange(req) {
    const computer = this.field(req, "computer", "string");
    const results = [];
    for (const [op, status] of this.outbox.get(computer) || []) {
      const known = this.ops.get(JSON.stringify(op));
      if (!known || known.computer !== computer) {
        results.push({ operation_id: op, activity: null, accepted: false,
          reason: `operation-id ${op} was not delivered to ${computer}` });
        continue;
      }
      const a = this.acts.get(known.activity);
      this.emit("result", { activity: a.id, computer, operation_id: op, status });
      results.push({ operation_id: op, activity: a.id, accepted: this.settle(a, status, "result") });
      this.propagate(computer);
    }
    this.outbox.delete(computer);
    const ready = this.propagate(computer);
    const delivered = [];
    for (const a of this.acts.values()) {
      if (a.kind !== "client" || a.computer !== computer) continue;
      const due = a.state === "Scheduled" && a.deliverAfter <= this.clock;
      const released = a.state === "Waiting" && a.ready;
      if (ready.has(a.id) || a.state === "Queued" || due || released) {
        const op = this.nextOp++;
        this.ops.set(JSON.stringify(op), { activity: a.id, computer });
        this.emit("deliver", { activity: a.id, computer, operation_id: op });
        this.move(a, "In Progress", "exchange");
        delivered.push({ activity: a.id, operation_id: op, type: a.type });
      }
    }
    return { delivered, results };
  }

  result(req) {
    const computer = this.field(req, "computer", "string");
    const op = req.operation_id;
    if (typeof op !== "number" && typeof op !== "string") {
      throw new Malformed("field 'operation_id' must be an integer or a string");
    }
    const status = this.status(req);
    if (!this.outbox.has(computer)) this.outbox.set(computer, []);
    this.outbox.get(computer).push([op, status]);
    return {};
  }

  consume(req) {
    const handler = this.field(req, "handler", "string");
    if (!this.held.has(handler)) this.held.set(handler, []);
    const held = this.held.get(handler);
    if (held.length >= PREFETCH) throw new Refused(`handler ${handler} already holds ${held}`);
    while (this.queue.length > 0) {
      const id = this.queue.shift();
      const a = this.acts.get(id);
      const readyDirect = (a.state === "Scheduled" || a.state === "Waiting") && a.ready;
      if (a.state !== "Queued" && a.state !== "In Progress" && !readyDirect) continue;
      held.push(id);
      const attempt = (this.attempts.get(id) || 0) + 1;
      this.attempts.set(id, attempt);
      this.emit("consume", { activity: id, handler, attempt });
      if (a.state !== "In Progress") this.move(a, "In Progress", "consume");
      return { activity: id };
    }
    return { activity: null };
  }

  finish(req) {
    const handler = this.field(req, "handler", "string");
    const a = this.get(req);
    const status = this.status(req);
    const held = this.held.get(handler) || [];
    const i = held.indexOf(a.id);
    if (i < 0) throw new Refused(`handler ${handler} does not hold ${a.id}`);
    held.splice(i, 1);
    const accepted = this.settle(a, status, "finish");
    this.propagate();
    return { accepted };
  }

  crash(req) {
    const handler = this.field(req, "handler", "string");
    const held = this.held.get(handler) || [];
    this.held.delete(handler);
    const back = held.filter((id) => this.acts.get(id).state === "In Progress");
    this.queue.unshift(...back);
    return {};
  }

  approve(req) {
    const a = this.get(req);
    if (a.state !== "Blocked") throw new Refused(`${a.id} is ${a.state}, not Blocked`);
    this.emit("approve", { activity: a.id });
    const waits = a.dependsOn.length > 0 || a.progressOf !== null;
    if (waits && this.verdict(a) !== "release") this.move(a, "Waiting", "approve");
    else this.toQueued(a, "approve");
    this.propagate();
    return {};
  }

  block(req) {
    const a = this.get(req);
    if (a.state !== "Queued") throw new Refused(`${a.id} is ${a.state}, not Queued`);
    this.queue = this.queue.filter((id) => id !== a.id);
    this.move(a, "Blocked", "block");
    return {};
  }

  cancel(req) {
    const a = this.get(req);
    if (["Succeeded", "Failed", "Canceled"].includes(a.state)) {
      throw new Refused(`${a.id} is ${a.state} and can no longer be canceled`);
    }
    this.queue = this.queue.filter((id) => id !== a.id);
    this.emit("cancel", { activity: a.id });
    this.move(a, "Canceled", "cancel");
    this.propagate();
    return {};
  }

  progressCmd(req) {
    const a = this.get(req);
    const value = this.field(req, "value", "number");
    if (value < 0 || value > 1) throw new Refused(`progress ${value} is outside [0, 1]`);
    if (a.state !== "In Progress") throw new Refused(`${a.id} is ${a.state}, not running`);
    a.progress = value;
    this.propagate();
    return {};
  }

  advance(req) {
    const seconds = this.field(req, "seconds", "number");
    if (seconds < 0) throw new Refused("the clock never goes back");
    this.clock += seconds;
    this.publishDue();
    this.propagate();
    return {};
  }

  query(req) {
    if (req.activity === undefined || req.activity === null) {
      const states = {};
      for (const a of this.acts.values()) states[a.id] = a.state;
      return { states };
    }
    return { state: this.get(req).state };
  }

  handle(req) {
    const id = Number.isInteger(req && req.id) ? req.id : 0;
    const table = {
      hello: () => this.hello(req), reset: () => { this.reset(); return {}; },
      create: () => this.create(req), exchange: () => this.exchange(req),
      result: () => this.result(req), consume: () => this.consume(req),
      finish: () => this.finish(req), crash: () => this.crash(req),
      approve: () => this.approve(req), block: () => this.block(req),
      cancel: () => this.cancel(req), progress: () => this.progressCmd(req),
      advance: () => this.advance(req), query: () => this.query(req),
    };
    const run = table[req && req.cmd];
    if (!run) return { id, status: "error", reason: `unknown cmd '${req && req.cmd}'` };
    this.events = [];
    try {
      const extra = run();
      return { id, status: "ok", events: this.events, ...extra };
    } catch (e) {
      if (e instanceof Refused) return { id, status: "refused", reason: e.message, events: [] };
      if (e instanceof Malformed) return { id, status: "error", reason: e.message, events: [] };
      throw e;
    }
  }
}

const system = new System();
const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on("line", (line) => {
  if (!line.trim()) return;
  let reply;
  try {
    reply = system.handle(JSON.parse(line));
  } catch (e) {
    reply = { id: 0, status: "error", reason: `cannot handle request: ${e.message}` };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
});
