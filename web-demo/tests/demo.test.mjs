// The QA page in headless Chromium against the real gateway, SQS/SNS server and MongoDB.
// Tests run in order on one page, like a QA engineer working through the page; each
// state is screenshotted at laptop and phone width into test-artifacts/demo/.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { ROUTES, eventually, screenshot, startStack } from "./harness.mjs";

/** The status panel as `{key: shown value}`. */
async function statusView(page) {
  return page.$$eval("#status tbody tr", (rows) =>
    Object.fromEntries(rows.map((r) => [r.dataset.key, r.querySelector("td").textContent])),
  );
}

async function badge(page) {
  return page.$eval("#badge", (el) => ({
    state: el.dataset.state,
    label: el.textContent.trim(),
    detail: document.getElementById("badge-detail").textContent,
  }));
}

async function waitForBadge(page, state, timeout = 15000) {
  await page.waitForSelector(`#badge[data-state="${state}"]`, { timeout });
}

/** Waits until the status panel shows every key of `expected` with that value. */
async function waitForStatus(page, expected, timeout) {
  await page.waitForFunction(
    (want) => {
      const shown = {};
      for (const row of document.querySelectorAll("#status tbody tr")) {
        shown[row.dataset.key] = row.querySelector("td").textContent;
      }
      return Object.entries(want).every(([k, v]) => shown[k] === v);
    },
    expected,
    { timeout, polling: "raf" },
  );
}

describe("QA demo page", () => {
  const session = `qa-${Date.now().toString(36)}`;
  let stack;
  let page;

  before(async () => {
    stack = await startStack();
    page = await stack.openPage();
  });

  after(async () => {
    await stack?.stop();
    if (page) assert.deepEqual(page.scriptErrors, [], "the page threw");
  });

  test("the page opens idle, says which gateway it talks to and what to do", async () => {
    await page.waitForFunction(() =>
      document.getElementById("server-info").textContent.startsWith("gateway "),
    );
    const info = await page.textContent("#server-info");
    assert.match(info, /publish on/);
    assert.equal((await badge(page)).state, "idle");
    assert.equal(await page.getByLabel("Session id").inputValue(), "");
    assert.ok(await page.getByRole("button", { name: "Connect", exact: true }).isEnabled());
    assert.ok(await page.getByRole("button", { name: "Disconnect" }).isDisabled());
    await screenshot(page, "01-idle");
  });

  test("a producer's SQS message shows in the status panel within a second", async (t) => {
    // Hold the stream request so the page can be seen while it connects.
    let release;
    const held = new Promise((r) => (release = r));
    await page.route("**/events*", async (route) => {
      await held;
      await route.continue();
    });
    await page.getByLabel("Session id").fill(session);
    await page.getByRole("button", { name: "Connect", exact: true }).click();
    await waitForBadge(page, "connecting");
    await screenshot(page, "02-connecting");
    release();
    await waitForBadge(page, "live");
    await page.unrouteAll();
    assert.equal(new URL(page.url()).searchParams.get("session"), session);
    await page.waitForSelector('#log tr[data-type="snapshot"]');
    await screenshot(page, "03-live-empty");

    const sent = await stack.sendProducerMessage(session, {
      status: "processing",
      agent_state: "thinking",
      priority: "high",
    });
    const start = performance.now();
    // The requirement: visible within one second of the message reaching SQS.
    await waitForStatus(page, sent.metadata, 1000);
    t.diagnostic(`SQS message to status panel: ${Math.round(performance.now() - start)} ms`);

    assert.deepEqual(await statusView(page), sent.metadata);
    const changed = await page.$$eval("#status tr.changed", (rows) => rows.map((r) => r.dataset.key));
    assert.deepEqual(changed.sort(), ["agent_state", "priority", "status"]);
    const logged = await page.$$eval('#log tr[data-type="metadata"] .payload', (c) => c.map((e) => e.textContent));
    assert.equal(logged.length, 1);
    assert.deepEqual(JSON.parse(logged[0]).metadata, sent.metadata);
    await screenshot(page, "04-live-update");

    // Highlights fade; a second change highlights only the key that changed.
    await page.waitForSelector("#status tr.changed", { state: "detached" });
    await stack.sendProducerMessage(session, { agent_state: "responding" });
    await waitForStatus(page, { agent_state: "responding" }, 5000);
    assert.deepEqual(await page.$$eval("#status tr.changed", (rows) => rows.map((r) => r.dataset.key)), ["agent_state"]);
    // A delete removes its key.
    await stack.sendProducerMessage(session, { priority: null }, "delete");
    await page.waitForSelector('#status tr[data-key="priority"]', { state: "detached" });
    assert.deepEqual(await statusView(page), { status: "processing", agent_state: "responding" });
  });

  test("the event log can be cleared", async () => {
    assert.ok(Number(await page.textContent("#log-count")) >= 3);
    await page.getByRole("button", { name: "Clear log" }).click();
    assert.equal(await page.textContent("#log-count"), "0");
    assert.equal(await page.locator("#log tbody tr").count(), 0);
    assert.ok(await page.isVisible("#log-empty"));
  });

  for (const route of ROUTES) {
    test(`${route.button} feedback is shown stored, is in MongoDB and notified on the ${route.topic} topic`, async () => {
      const comment = `${route.sentiment} feedback from the QA page ${Date.now()}`;
      await page.getByRole("radio", { name: route.button, exact: true }).check();
      await page.getByLabel("Comment").fill(comment);
      await page.getByRole("button", { name: "Send feedback" }).click();

      const result = page.locator("#feedback-result");
      // The answer to this request: the box holds the comment just sent.
      await page
        .locator('#feedback-result[data-kind="ok"]', { hasText: comment })
        .or(page.locator('#feedback-result[data-kind="error"]'))
        .waitFor();
      assert.equal(await result.locator(".result-head").textContent(), "Stored");
      const record = Object.fromEntries(
        await result.locator("dt").evaluateAll((dts) => dts.map((dt) => [dt.textContent, dt.nextElementSibling.textContent])),
      );
      assert.equal(record.session, session);
      assert.equal(record.sentiment, route.sentiment);
      assert.equal(record.rating, route.rating ?? "none");
      assert.equal(record.comment, comment);

      const stored = await eventually("the feedback in MongoDB", () =>
        stack.feedbackCollection().findOne({ _id: record.id }),
      );
      assert.equal(stored.session_id, session);
      assert.equal(stored.sentiment, route.sentiment);
      assert.equal(stored.rating, route.rating);
      assert.equal(stored.comment, comment);

      const notification = await eventually(`the SNS notification on the ${route.topic} topic`, async () =>
        (await stack.receiveNotifications(route.sentiment)).find((n) => n.Message.includes(comment)),
      );
      assert.equal(notification.Subject, `Virtual Agents Feedback ${route.sentiment} on session ${session}`);
      assert.equal(notification.Message, `Session: ${session}\n\n${comment}`);
      assert.equal(notification.MessageAttributes.rating.Value, route.sentiment);
      assert.equal(notification.MessageAttributes.session_id.Value, session);
      for (const other of ROUTES.filter((r) => r !== route)) {
        assert.deepEqual(await stack.receiveNotifications(other.sentiment), [], `${other.topic} topic got a notification`);
      }
      await screenshot(page, `05-feedback-${route.sentiment}`);
    });
  }

  test("a rejected feedback shows the gateway's error", async () => {
    await page.getByLabel("Comment").fill("x".repeat(2001));
    await page.getByRole("button", { name: "Send feedback" }).click();
    const result = page.locator("#feedback-result");
    await result.locator(".result-head", { hasText: "Not stored" }).waitFor();
    assert.match(await result.textContent(), /422 comment_too_long/);
    await page.getByLabel("Comment").fill("");
    await screenshot(page, "06-feedback-error");
  });

  test("the publish form sends a test update that the status panel shows", async () => {
    await page.getByLabel("Operation").selectOption("update");
    await page.getByLabel("Metadata (JSON object)").fill('{"progress": 42, "agent_state": "waiting"}');
    await page.getByRole("button", { name: "Publish" }).click();
    const result = page.locator("#publish-result");
    await result.locator(".result-head", { hasText: /^Published$/ }).waitFor();
    assert.match(await result.textContent(), /applied\s*agent_state, progress|applied\s*progress, agent_state/);
    await waitForStatus(page, { progress: "42", agent_state: "waiting" }, 5000);
    await screenshot(page, "07-published");

    await page.getByLabel("Metadata (JSON object)").fill("[1, 2]");
    await page.getByRole("button", { name: "Publish" }).click();
    await result.locator(".result-head", { hasText: "Not published" }).waitFor();
    assert.match(await result.textContent(), /must be a JSON object/);
  });

  test("a gateway restart shows reconnecting, then live, and no update sent meanwhile is missing", async (t) => {
    await stack.gateway.stop();
    await waitForBadge(page, "reconnecting");
    const reconnecting = await badge(page);
    assert.match(reconnecting.detail, /attempt \d+/);
    await screenshot(page, "08-reconnecting");

    const meanwhile = {};
    for (let i = 1; i <= 3; i++) {
      const update = { [`restart_${i}`]: `sent while down ${i}` };
      await stack.sendProducerMessage(session, update);
      Object.assign(meanwhile, update);
    }
    const restart = performance.now();
    await stack.gateway.start();
    await waitForBadge(page, "live", 30000);
    // A long poll of the stopped gateway may still be waiting inside the SQS server and take
    // these messages; they come back after the queue's visibility timeout (see harness).
    await waitForStatus(page, meanwhile, 20000);
    t.diagnostic(`gateway restart to every missed update shown: ${Math.round(performance.now() - restart)} ms`);
    await screenshot(page, "09-live-after-restart");
  });

  test("disconnect closes the stream and keeps the last view", async () => {
    const view = await statusView(page);
    await page.getByRole("button", { name: "Disconnect" }).click();
    await waitForBadge(page, "closed");
    assert.deepEqual(await statusView(page), view);
    assert.ok(await page.getByRole("button", { name: "Disconnect" }).isDisabled());
    await screenshot(page, "10-closed");
  });

  test("an invalid session id shows the error with its reason", async () => {
    await page.getByLabel("Session id").fill("not a valid id!");
    await page.getByRole("button", { name: "Connect", exact: true }).click();
    await waitForBadge(page, "error");
    // The SDK rejects it before sending anything; the reason is its message.
    assert.match((await badge(page)).detail, /^invalid_argument: session id contains ' '/);
    assert.equal(await page.textContent("#status-empty"), "Not connected: see the error above.");
    await screenshot(page, "11-error");
  });

  test("grid mode watches 20 sessions on one connection, each update on its own tile", async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `${session}-grid-${i}`);
    await page.getByLabel(/Sessions to watch/).fill(ids.join(", "));
    await page.getByRole("button", { name: "Watch all" }).click();
    await page.waitForFunction(
      (n) => document.querySelectorAll('#grid-tiles .tile[data-state="open"]').length === n,
      ids.length,
      { timeout: 15000 },
    );
    assert.equal(await page.textContent("#grid-summary"), "20 of 20 sessions live, on one connection");
    // One connection, counted by the gateway: one multiplexed stream carrying 20 sessions.
    const metrics = await (await fetch(`${stack.gateway.url}/metrics`)).text();
    const gauge = (name) => Number(metrics.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1]);
    assert.equal(gauge("gateway_sse_multiplexed_streams"), 1, metrics);
    assert.equal(gauge("gateway_sse_multiplexed_sessions"), 20);

    for (const [i, id] of ids.entries()) {
      const response = await fetch(`${stack.gateway.url}/v1/sessions/${id}/metadata`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ operation: "update", metadata: { status: `tile ${i}` } }),
      });
      assert.equal(response.status, 202);
    }
    // Every tile shows its own update, and only its own.
    await page.waitForFunction(
      (want) =>
        want.every((id, i) => {
          const tile = document.querySelector(`#grid-tiles .tile[data-session="${id}"]`);
          return tile?.dataset.values === JSON.stringify({ status: `tile ${i}` });
        }),
      ids,
      { timeout: 15000 },
    );
    await screenshot(page, "12-grid");
    await page.getByRole("button", { name: "Stop" }).click();
    assert.equal(await page.locator("#grid-tiles .tile").count(), 0);
  });
});
