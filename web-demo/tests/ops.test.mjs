// The operator page /ops in headless Chromium against the real gateway, SQS (moto_server,
// with a real dead-letter queue) and MongoDB. Tests run in order on one page; each state
// is screenshotted at laptop and phone width into test-artifacts/demo/ops-*.png.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { SendMessageCommand } from "@aws-sdk/client-sqs";

import { eventually, producerTimestamp, screenshot, startStack } from "./harness.mjs";

const text = (page, selector) => page.textContent(selector).then((t) => t.trim());
const number = (shown) => Number(shown.replace(/[^0-9.]/g, ""));

/** The dead-letter table's rows as `{id: why-rejected}`. */
async function deadLetterRows(page) {
  return page.$$eval("#dlq tr[data-message-id]", (rows) =>
    Object.fromEntries(rows.map((r) => [r.dataset.messageId, r.cells[4].textContent])),
  );
}

describe("operator page /ops", () => {
  const session = `ops-${Date.now().toString(36)}`;
  let stack;
  let page;
  let stream;

  before(async () => {
    stack = await startStack({
      deadLetterQueue: true,
      gatewayEnv: { QUEUE_STATS_INTERVAL_SECONDS: "1", SQS_WAIT_SECONDS: "1" },
    });
    const context = await stack.browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    page.scriptErrors = [];
    page.on("pageerror", (err) => page.scriptErrors.push(String(err)));
    await page.goto(`${stack.gateway.url}/ops`);
  });

  after(async () => {
    await stream?.cancel().catch(() => {});
    await stack?.stop();
    if (page) assert.deepEqual(page.scriptErrors, [], "the page threw");
  });

  test("the page shows the components, the queues and no alert", async () => {
    await page.waitForFunction(() => document.getElementById("updated").textContent.startsWith("gateway "));
    await page.waitForSelector('#components tr[data-component="sqs"]');
    const sqs = await text(page, '#components tr[data-component="sqs"] td:nth-child(2)');
    assert.equal(sqs, "ok");
    assert.equal(await text(page, "#dlq-depth"), "0");
    assert.equal(await text(page, "#connections"), "0");
    assert.match(await text(page, "#alerts"), /no alert/);
    await screenshot(page, "ops-01-idle");
  });

  test("live numbers change while events flow", async () => {
    // A subscriber, as a browser's EventSource would be.
    const response = await fetch(`${stack.gateway.url}/v1/sessions/${session}/events`);
    stream = response.body;
    await page.waitForFunction(() => document.getElementById("connections").textContent === "1");
    const before = number(await text(page, "#events-total"));
    for (let i = 0; i < 12; i++) {
      await stack.sendProducerMessage(session, { progress: i });
      await new Promise((r) => setTimeout(r, 150));
    }
    await eventually("the events counter to move", async () =>
      number(await text(page, "#events-total")) >= before + 12);
    await eventually("a non-zero event rate", async () => number(await text(page, "#events-rate")) > 0);
    await eventually("a fan-out latency", async () => (await text(page, "#fanout")) !== "–");
    const summary = await (await fetch(`${stack.gateway.url}/ops/summary`)).json();
    assert.equal(summary.connections, 1);
    assert.ok(summary.events.applied_total >= 12);
    await screenshot(page, "ops-02-live");
  });

  test("dead-letter messages are listed with why they were rejected, and an alert shows", async () => {
    // Malformed: the gateway rejects it twice, then SQS moves it to the DLQ.
    await stack.sqs.send(new SendMessageCommand({ QueueUrl: stack.metadataQueue, MessageBody: "{not json" }));
    // Valid, put straight into the DLQ: one that failed for another reason.
    const valid = JSON.stringify({
      session_id: session,
      event: "metadata_update",
      operation: "update",
      metadata: { status: "redriven" },
      timestamp: producerTimestamp(),
    });
    const { MessageId: validId } = await stack.sqs.send(
      new SendMessageCommand({ QueueUrl: stack.deadLetterQueue, MessageBody: valid }),
    );
    const rows = await eventually("two dead-letter rows", async () => {
      const rows = await deadLetterRows(page);
      return Object.keys(rows).length === 2 ? rows : null;
    }, 30000);
    assert.match(rows[validId], /parses/);
    const malformed = Object.entries(rows).find(([id]) => id !== validId);
    assert.match(malformed[1], /^invalid_json: /);
    await page.waitForSelector('#alerts tr[data-alert="GatewayDeadLetterQueueNotEmpty"]');
    assert.equal(
      await text(page, '#alerts tr[data-alert="GatewayDeadLetterQueueNotEmpty"] td:nth-child(2)'),
      "pending",
    );
    await screenshot(page, "ops-03-dead-letters");
  });

  test("a redrive asks first, and after the confirmation moves the message back", async () => {
    const rows = await deadLetterRows(page);
    const [validId] = Object.entries(rows).find(([, why]) => /parses/.test(why));
    await page.check(`#dlq tr[data-message-id="${validId}"] input[type=checkbox]`);

    // Dismissed: nothing moves.
    page.once("dialog", (dialog) => dialog.dismiss());
    await page.click("#redrive-selected");
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(Object.keys(await deadLetterRows(page)).length, 2);

    // Confirmed: the message goes back to the metadata queue and the gateway applies it.
    let asked = "";
    page.once("dialog", (dialog) => {
      asked = dialog.message();
      dialog.accept();
    });
    await page.click("#redrive-selected");
    await page.waitForFunction(() => document.getElementById("redrive-result").textContent === "moved 1");
    assert.match(asked, /Move 1 selected message\(s\) back to the metadata queue/);
    await eventually("the redriven change applied", async () => {
      const snapshot = await (await fetch(`${stack.gateway.url}/v1/sessions/${session}`)).json();
      return snapshot.metadata.status === "redriven";
    });
    await eventually("one dead-letter row left", async () => Object.keys(await deadLetterRows(page)).length === 1);
    await page.waitForFunction(() => document.getElementById("dlq-depth").textContent === "1");
    await screenshot(page, "ops-04-redriven");
  });
});
