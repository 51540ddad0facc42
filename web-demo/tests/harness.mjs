// Test harness of the QA page: the real services (moto_server for SQS/SNS, secantusd-py for
// MongoDB), the real gateway binary serving the built page, and headless Chromium driven by
// playwright-core. Nothing is mocked.
//
// Environment:
//   GATEWAY_BIN    gateway binary (default: $CARGO_TARGET_DIR/debug/gateway, then target/debug/gateway)
//   DEMO_DIR       built page (default: web-demo/dist)
//   CHROMIUM_BIN   browser (default: /usr/bin/chromium)
//   ARTIFACTS_DIR  screenshots and logs (default: test-artifacts/demo)

import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { CreateTopicCommand, SNSClient, SubscribeCommand } from "@aws-sdk/client-sns";
import { MongoClient } from "mongodb";
import { chromium } from "playwright-core";

const run = promisify(execFile);

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const ARTIFACTS = resolve(ROOT, process.env.ARTIFACTS_DIR ?? "test-artifacts/demo");
const DEMO_DIR = resolve(ROOT, process.env.DEMO_DIR ?? "web-demo/dist");
const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-sync",
  "--disable-quic",
];

/** The two widths every screenshot is taken at. */
export const VIEWPORTS = {
  laptop: { width: 1280, height: 800 },
  phone: { width: 390, height: 844 },
};

/** The three feedback routes: the page's button → rating → sentiment → SNS topic variable suffix. */
export const ROUTES = [
  { button: "Up", rating: "up", sentiment: "positive", topic: "GOOD" },
  { button: "Down", rating: "down", sentiment: "negative", topic: "BAD" },
  { button: "Neutral", rating: null, sentiment: "neutral", topic: "NEUTRAL" },
];

function gatewayBinary() {
  if (process.env.GATEWAY_BIN) return resolve(process.env.GATEWAY_BIN);
  const target = process.env.CARGO_TARGET_DIR ?? join(ROOT, "target");
  return resolve(ROOT, target, "debug/gateway");
}

/** `export K=V` lines of `.services/env` (written by scripts/services.sh) as an object. */
function readServicesEnv() {
  const env = {};
  for (const line of readFileSync(join(ROOT, ".services/env"), "utf8").split("\n")) {
    const m = line.match(/^export ([A-Z0-9_]+)=(.*)$/);
    if (m) env[m[1]] = m[2].replace(/^'(.*)'$/, "$1");
  }
  return env;
}

async function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

/** Polls `check` until it returns a truthy value; fails with `what` after `timeoutMs`. */
export async function eventually(what, check, timeoutMs = 15000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The producer's timestamp format: Python's naive `datetime.isoformat()`, in UTC. */
export function producerTimestamp(date = new Date()) {
  return date.toISOString().replace("Z", "000");
}

/**
 * The gateway process: started with the test's queue, topics and database, restartable on
 * the same port (the restart test stops it with SIGTERM like an orchestrator would).
 */
class Gateway {
  constructor(env, port) {
    this.env = env;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.child = null;
    this.log = join(ARTIFACTS, "gateway.log");
  }

  async start() {
    const bin = gatewayBinary();
    if (!existsSync(bin)) throw new Error(`no gateway binary at ${bin}: run cargo build -p gateway`);
    const out = openSync(this.log, "a");
    this.child = spawn(bin, [], { env: this.env, stdio: ["ignore", out, out] });
    writeFileSync(join(ARTIFACTS, "gateway.pid"), String(this.child.pid));
    const child = this.child;
    await eventually(`the gateway on ${this.url} (log: ${this.log})`, async () => {
      if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}`);
      return (await fetch(`${this.url}/healthz`)).ok;
    }, 30000);
  }

  /** SIGTERM, then waits for the exit; SIGKILL only if it does not stop in time. */
  async stop() {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 15000);
    await exited;
    clearTimeout(timer);
    this.child = null;
  }
}

/**
 * Starts everything; `stack.stop()` stops everything this started, also after a failure.
 * Each run uses fresh queue, topic and database names so runs never see each other's data.
 */
export async function startStack(options = {}) {
  mkdirSync(ARTIFACTS, { recursive: true });
  rmSync(join(ARTIFACTS, "gateway.log"), { force: true });
  const stack = new Stack(options);
  try {
    await stack.start();
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return stack;
}

/**
 * Options: `deadLetterQueue` gives the metadata queue a real DLQ (redrive policy,
 * `maxReceiveCount` 2; its URL is `stack.deadLetterQueue`); `gatewayEnv` adds settings.
 */
class Stack {
  constructor(options = {}) {
    this.options = options;
    this.cleanups = [];
    this.runId = `demo${Date.now().toString(36)}`;
  }

  async start() {
    await run("bash", ["scripts/services.sh", "start"], { cwd: ROOT });
    this.cleanups.push(() => run("bash", ["scripts/services.sh", "stop"], { cwd: ROOT }));
    const services = readServicesEnv();
    const aws = {
      endpoint: services.AWS_ENDPOINT_URL,
      region: services.AWS_REGION,
      credentials: { accessKeyId: services.AWS_ACCESS_KEY_ID, secretAccessKey: services.AWS_SECRET_ACCESS_KEY },
    };
    this.sqs = new SQSClient(aws);
    this.sns = new SNSClient(aws);
    this.cleanups.push(() => (this.sqs.destroy(), this.sns.destroy()));

    // A long poll the stopped gateway left waiting in the SQS server takes the first
    // messages sent while the gateway is down, and nobody deletes them: they are delivered
    // again once their visibility timeout ends. A short timeout keeps the restart test short
    // (the default is 30 s); the gateway applies a message in milliseconds.
    const metadataAttributes = { VisibilityTimeout: "3" };
    if (this.options.deadLetterQueue) {
      this.deadLetterQueue = await this.createQueue(`${this.runId}-metadata-dlq`);
      const { Attributes } = await this.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: this.deadLetterQueue, AttributeNames: ["QueueArn"] }),
      );
      metadataAttributes.RedrivePolicy = JSON.stringify({
        deadLetterTargetArn: Attributes.QueueArn,
        maxReceiveCount: "2",
      });
    }
    this.metadataQueue = await this.createQueue(`${this.runId}-metadata`, metadataAttributes);
    this.topics = {};
    for (const route of ROUTES) {
      const { TopicArn } = await this.sns.send(
        new CreateTopicCommand({ Name: `${this.runId}-feedback-${route.sentiment}` }),
      );
      const queueUrl = await this.createQueue(`${this.runId}-feedback-${route.sentiment}`);
      const { Attributes } = await this.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }),
      );
      await this.sns.send(
        new SubscribeCommand({ TopicArn, Protocol: "sqs", Endpoint: Attributes.QueueArn }),
      );
      this.topics[route.sentiment] = { arn: TopicArn, queueUrl };
    }

    this.database = `${this.runId}`;
    this.mongo = new MongoClient(services.MONGODB_URI);
    await this.mongo.connect();
    this.cleanups.push(() => this.mongo.close());

    const port = await freePort();
    this.gateway = new Gateway(
      {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        RUST_LOG: process.env.RUST_LOG ?? "info",
        ...services,
        LISTEN_ADDR: `127.0.0.1:${port}`,
        SQS_METADATA_QUEUE_URL: this.metadataQueue,
        SNS_TOPIC_FEEDBACK_GOOD: this.topics.positive.arn,
        SNS_TOPIC_FEEDBACK_BAD: this.topics.negative.arn,
        SNS_TOPIC_FEEDBACK_NEUTRAL: this.topics.neutral.arn,
        MONGODB_DATABASE: this.database,
        DEMO_DIR,
        ...(this.options.gatewayEnv ?? {}),
      },
      port,
    );
    this.cleanups.push(() => this.gateway.stop());
    await this.gateway.start();

    this.browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    this.cleanups.push(() => this.browser.close());
  }

  async createQueue(name, attributes = {}) {
    const { QueueUrl } = await this.sqs.send(
      new CreateQueueCommand({ QueueName: name, Attributes: attributes }),
    );
    return QueueUrl;
  }

  /** Sends one message to the metadata queue exactly as the producer writes it. */
  async sendProducerMessage(sessionId, metadata, operation = "update") {
    const body = {
      session_id: sessionId,
      event: "metadata_update",
      operation,
      metadata,
      timestamp: producerTimestamp(),
    };
    await this.sqs.send(new SendMessageCommand({
      QueueUrl: this.metadataQueue,
      MessageBody: JSON.stringify(body),
      MessageAttributes: {
        session_id: { DataType: "String", StringValue: sessionId },
        event: { DataType: "String", StringValue: "metadata_update" },
      },
    }));
    return body;
  }

  /** The SNS notifications (JSON envelopes) that reached the queue subscribed to a topic. */
  async receiveNotifications(sentiment) {
    const { queueUrl } = this.topics[sentiment];
    const { Messages = [] } = await this.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    for (const m of Messages) {
      await this.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
    }
    return Messages.map((m) => JSON.parse(m.Body));
  }

  feedbackCollection() {
    return this.mongo.db(this.database).collection("feedback");
  }

  /**
   * A fresh page of the demo at laptop width. Script errors are collected for the test to
   * check; failed requests are not, the restart and error tests cause them on purpose.
   */
  async openPage(query = "") {
    const context = await this.browser.newContext({ viewport: VIEWPORTS.laptop });
    const page = await context.newPage();
    page.scriptErrors = [];
    page.on("pageerror", (err) => page.scriptErrors.push(String(err)));
    await page.goto(`${this.gateway.url}/${query}`);
    return page;
  }

  async stop() {
    for (const cleanup of this.cleanups.reverse()) {
      try {
        await cleanup();
      } catch (err) {
        console.error(`cleanup failed: ${err}`);
      }
    }
    this.cleanups = [];
  }
}

/** Writes `NAME-laptop.png` and `NAME-phone.png` of the whole page into the artifacts. */
export async function screenshot(page, name) {
  const files = [];
  for (const [label, size] of Object.entries(VIEWPORTS)) {
    await page.setViewportSize(size);
    const file = join(ARTIFACTS, `${name}-${label}.png`);
    await page.screenshot({ path: file, fullPage: true, animations: "allow" });
    files.push(file);
  }
  await page.setViewportSize(VIEWPORTS.laptop);
  return files;
}
