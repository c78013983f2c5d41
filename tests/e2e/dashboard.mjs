// End-to-end test of the Hanse dashboard in Debian's headless Chromium,
// driven by playwright-core. scripts/e2e.sh builds the world (NSD for the
// root and `example.`, Hanse with the API, the query log and the
// `kids-block` feed) and runs this file; see tests/e2e/README.md.
//
// What it checks, in order, through the page as a user would:
//   1. the dashboard loads with no script error and no CSP violation, and
//      #queries-total shows the number /api/v1/stats reports;
//   2. after DNS queries sent to Hanse (dig), the overview's numbers change;
//   3. the query log lists www.example, and its "why?" explains it;
//   4. the feeds table shows kids-block (hosts, its rules, current);
//   5. a client mapping 127.0.0.77/32 → kids added through the form makes
//      blocked.example NXDOMAIN for source 127.0.0.77, while 127.0.0.1 still
//      gets the address; the blocked entry shows in the query log and "why?"
//      names the feed; deleting the mapping lifts the block;
//   6. at a phone viewport (375×667) the layout has no horizontal overflow.
// Screenshots go to tests/e2e/results/ (gitignored).
//
// Environment (all required; the script sets them):
//   HANSE_API   base URL of the API and dashboard, e.g. http://127.63.0.10:8053
//   HANSE_DNS   address of Hanse's DNS listener, e.g. 127.63.0.10
//   HANSE_DNS_PORT  its port (53)
//   CHROMIUM    the browser executable (default /usr/bin/chromium)
// Every wait is bounded; the whole run is bounded by RUN_LIMIT_MS.

import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const RUN_LIMIT_MS = 100_000;
const HERE = dirname(fileURLToPath(import.meta.url));
const RESULTS = join(HERE, "results");

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`dashboard.mjs: the environment variable ${name} is not set (run scripts/e2e.sh)`);
    process.exit(2);
  }
  return value;
}

const API = required("HANSE_API").replace(/\/$/, "");
const DNS_ADDRESS = required("HANSE_DNS");
const DNS_PORT = required("HANSE_DNS_PORT");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const KIDS_CLIENT = "127.0.0.77";
const KIDS_NETWORK = "127.0.0.77/32";
const ADDRESSES = {
  "www.example.": "127.63.1.1",
  "blocked.example.": "127.63.1.2",
  "other.example.": "127.63.1.3",
};

// ---- small helpers

const failures = [];
let browser;

function log(text) {
  console.log(`[e2e ${new Date().toISOString().slice(11, 19)}] ${text}`);
}

class CheckFailure extends Error {}

function expect(condition, message) {
  if (!condition) throw new CheckFailure(message);
}

// Runs one named step; a failure is recorded and ends the run (later steps
// depend on earlier ones).
async function step(name, action) {
  const started = Date.now();
  try {
    await action();
    log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    log(`FAIL ${name}: ${error instanceof CheckFailure ? error.message : error.stack || error}`);
    failures.push(name);
    throw error;
  }
}

// Polls `probe` every `interval` ms until it returns a truthy value or
// `limit` ms have passed; returns the last value.
async function poll(probe, limit, interval = 250) {
  const end = Date.now() + limit;
  for (;;) {
    const value = await probe();
    if (value || Date.now() >= end) return value;
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

async function getJson(path) {
  const response = await fetch(API + path, { signal: AbortSignal.timeout(5000) });
  expect(response.ok, `GET ${path}: HTTP ${response.status}`);
  return response.json();
}

// One DNS query with dig from `source`; returns {status, addresses}.
function dig(name, source) {
  const args = ["-p", DNS_PORT, "-b", source, `@${DNS_ADDRESS}`, name, "A", "+time=3", "+tries=1", "+noall", "+comments", "+answer"];
  return new Promise((resolve, reject) => {
    execFile("dig", args, { timeout: 10_000 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`dig ${args.join(" ")} failed: ${error.message} ${stderr}`));
        return;
      }
      const status = /status: ([A-Z]+)/.exec(stdout);
      const addresses = [...stdout.matchAll(/\sIN\s+A\s+(\d+\.\d+\.\d+\.\d+)/g)].map((match) => match[1]);
      resolve({ status: status ? status[1] : `no status in: ${stdout}`, addresses });
    });
  });
}

async function expectResolves(name, source) {
  const answer = await dig(name, source);
  expect(
    answer.status === "NOERROR" && answer.addresses.includes(ADDRESSES[name]),
    `${name} from ${source}: expected NOERROR with ${ADDRESSES[name]}, got ${answer.status} ${answer.addresses}`,
  );
}

async function text(page, selector) {
  return (await page.locator(selector).textContent({ timeout: 5000 })).trim();
}

// The overview refreshes every 5 s; waits until `selector`'s text passes `test`.
async function waitForText(page, selector, test, limit, what) {
  let last = "";
  const seen = await poll(async () => {
    last = await text(page, selector);
    return test(last);
  }, limit);
  expect(seen, `${selector}: ${what}; it shows ${JSON.stringify(last)} after ${limit} ms`);
  return last;
}

// A pattern for the start of a text that is `name` in presentation form,
// with or without its final dot, followed by the pattern `rest`.
function namePattern(name, rest) {
  return new RegExp(`^${name.replace(/\.$/, "").replace(/\./g, "\\.")}\\.?${rest}`);
}

// Searches the query log through the form and returns the row locator of
// the first entry whose name cell equals `name`.
async function findLogRow(page, name, { blockedOnly = false, client = "" } = {}) {
  const row = page.locator("#querylog-table tbody tr", {
    has: page.locator("td:nth-child(3)", { hasText: namePattern(name, "$") }),
  });
  const found = await poll(async () => {
    await page.fill("#querylog-name", name.replace(/\.$/, ""));
    await page.fill("#querylog-client", client);
    await page.setChecked("#querylog-blocked", blockedOnly);
    await page.click("#querylog-search");
    await page.waitForTimeout(300);
    return (await row.count()) > 0;
  }, 10_000, 500);
  expect(found, `no query-log row for ${name} (client ${client || "any"}, blocked only ${blockedOnly})`);
  return row.first();
}

// ---- the run

async function run() {
  mkdirSync(RESULTS, { recursive: true });
  const profileDirectory = mkdtempSync(join(tmpdir(), "hanse-e2e-chromium-"));
  const problems = [];
  try {
    const context = await chromium.launchPersistentContext(profileDirectory, {
      executablePath: CHROMIUM,
      headless: true,
      timeout: 30_000,
      viewport: { width: 1280, height: 900 },
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    browser = context;
    context.setDefaultTimeout(10_000);
    const page = context.pages()[0] || (await context.newPage());
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      // A failed load is logged without its address; the response check
      // below names it.
      if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
        problems.push(`console error: ${message.text()}`);
      }
    });
    page.on("response", (response) => {
      // The API serves no /favicon.ico (the browser asks for it on its own).
      if (response.status() >= 400 && new URL(response.url()).pathname !== "/favicon.ico") {
        problems.push(`HTTP ${response.status()} for ${response.request().method()} ${response.url()}`);
      }
    });
    page.on("requestfailed", (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));
    // Anything the page asks of another origin breaks "works without Internet".
    page.on("request", (request) => {
      if (!request.url().startsWith(API + "/")) problems.push(`request to another origin: ${request.url()}`);
    });

    let totalBefore = 0;
    await step("the dashboard loads and shows the API's query count", async () => {
      const response = await page.goto(API + "/", { waitUntil: "load" });
      expect(response.ok(), `GET / answered ${response.status()}`);
      expect((await page.title()) === "Hanse", `title is ${await page.title()}`);
      const shown = await waitForText(page, "#queries-total", (value) => /^\d+$/.test(value), 10_000, "a number");
      const stats = await getJson("/api/v1/stats");
      totalBefore = Number(shown);
      // The page read the statistics a moment before us: it cannot show more.
      expect(totalBefore <= stats.queries_total, `page shows ${shown}, the API says ${stats.queries_total}`);
      expect((await text(page, "#status")) === "", `status line: ${await text(page, "#status")}`);
      const settings = await page.locator("#settings-table tbody tr").count();
      expect(settings > 0, "the settings table is empty");
    });

    await step("queries from 127.0.0.1 resolve through the hierarchy", async () => {
      await expectResolves("www.example.", "127.0.0.1");
      await expectResolves("other.example.", "127.0.0.1");
      await expectResolves("blocked.example.", "127.0.0.1");
      await expectResolves("www.example.", "127.0.0.1");
    });

    await step("the overview's numbers change after the queries", async () => {
      const shown = await waitForText(
        page,
        "#queries-total",
        (value) => Number(value) >= totalBefore + 4,
        12_000,
        `at least ${totalBefore + 4} (was ${totalBefore}, 4 queries sent)`,
      );
      const stats = await getJson("/api/v1/stats");
      expect(Number(shown) <= stats.queries_total, `page shows ${shown}, the API says ${stats.queries_total}`);
      await waitForText(page, "#top-names", (value) => value.includes("www.example"), 6_000, "www.example among the top names");
      const hitRate = await text(page, "#cache-hit-rate");
      expect(/^\d+\.\d %$/.test(hitRate), `cache hit rate shows ${hitRate}`);
      const share = await text(page, "#blocked-share");
      expect(/^\d+\.\d %$/.test(share), `blocked share shows ${share}`);
    });

    await step("the query log lists www.example and explains it", async () => {
      const row = await findLogRow(page, "www.example.");
      const cells = await row.locator("td").allTextContents();
      expect(cells[1] === "127.0.0.1", `client cell is ${cells[1]} (privacy level 0 keeps the address)`);
      expect(cells[3] === "A" && cells[4] === "NOERROR", `type/rcode cells: ${cells[3]} ${cells[4]}`);
      await row.locator('[data-testid="why"]').click();
      await page.locator("#explanation").waitFor({ state: "visible" });
      const explanation = await text(page, "#explanation");
      const first = namePattern("www.example.", " A: allowed \\(profile default\\)\n");
      expect(first.test(explanation), `explanation does not start ${first}: ${explanation}`);
    });

    await step("the feeds table shows kids-block", async () => {
      const row = page.locator('#feeds-table tbody tr[data-feed="kids-block"]');
      await row.waitFor();
      const cells = await row.locator("td").allTextContents();
      expect(cells[0] === "kids-block" && cells[1] === "hosts", `name/format cells: ${cells[0]} ${cells[1]}`);
      expect(Number(cells[3]) >= 1, `rules cell: ${cells[3]}`);
      expect(cells[4] === "current", `status cell: ${cells[4]}`);
      expect((await row.locator('button[data-feed="kids-block"]').count()) === 1, "no refresh button");
    });

    await step("a client mapping added through the form blocks that client's query", async () => {
      expect((await page.locator(`#profile-list li[data-profile="kids"]`).count()) === 1, "profile kids not listed");
      await page.fill("#client-cidr", KIDS_NETWORK);
      await page.fill("#client-profile", "kids");
      await page.click("#client-submit");
      const item = page.locator(`#client-list li[data-cidr="${KIDS_NETWORK}"]`);
      await item.waitFor();
      const itemText = (await item.textContent()).trim();
      expect(itemText.startsWith(`${KIDS_NETWORK} → kids`), `mapping item: ${itemText}`);
      expect((await text(page, "#status")) === "", `status line: ${await text(page, "#status")}`);
      const mappings = await getJson("/api/v1/clients");
      expect(
        mappings.some((mapping) => mapping.cidr === KIDS_NETWORK && mapping.profile === "kids"),
        `the API does not list the mapping: ${JSON.stringify(mappings)}`,
      );
      let answer;
      const blocked = await poll(async () => {
        answer = await dig("blocked.example.", KIDS_CLIENT);
        return answer.status === "NXDOMAIN";
      }, 5_000, 500);
      expect(blocked, `blocked.example. from ${KIDS_CLIENT}: expected NXDOMAIN, got ${answer.status} ${answer.addresses}`);
      await expectResolves("blocked.example.", "127.0.0.1");
      await expectResolves("www.example.", KIDS_CLIENT);
    });

    await step("the blocked query shows in the query log, the overview and its explanation", async () => {
      const row = await findLogRow(page, "blocked.example.", { blockedOnly: true, client: KIDS_CLIENT });
      expect((await row.getAttribute("class")) === "blocked", "the row lacks class blocked");
      const cells = await row.locator("td").allTextContents();
      expect(cells[1] === KIDS_CLIENT && cells[4] === "NXDOMAIN", `client/rcode cells: ${cells[1]} ${cells[4]}`);
      await row.locator('[data-testid="why"]').click();
      const explanation = await waitForText(
        page,
        "#explanation",
        (value) => namePattern("blocked.example.", " A: blocked \\(profile kids\\)\n").test(value),
        5_000,
        "the block explained",
      );
      expect(explanation.includes("feed kids-block"), `explanation does not name the feed: ${explanation}`);
      await waitForText(page, "#top-blocked", (value) => value.includes("blocked.example"), 12_000, "blocked.example among the top blocked");
      const share = await text(page, "#blocked-share");
      expect(share !== "0.0 %" && /^\d+\.\d %$/.test(share), `blocked share shows ${share}`);
      await page.screenshot({ path: join(RESULTS, "dashboard.png"), fullPage: true });
    });

    await step("deleting the mapping through the page lifts the block", async () => {
      const item = page.locator(`#client-list li[data-cidr="${KIDS_NETWORK}"]`);
      await item.locator("button").click();
      await item.waitFor({ state: "detached" });
      const resolved = await poll(async () => {
        const answer = await dig("blocked.example.", KIDS_CLIENT);
        return answer.status === "NOERROR" && answer.addresses.includes(ADDRESSES["blocked.example."]);
      }, 5_000, 500);
      expect(resolved, `blocked.example. from ${KIDS_CLIENT} is still not resolved after the mapping was deleted`);
    });

    await step("a phone viewport (375×667) has no horizontal overflow", async () => {
      const phone = await context.newPage();
      phone.on("pageerror", (error) => problems.push(`phone page error: ${error.message}`));
      await phone.setViewportSize({ width: 375, height: 667 });
      await phone.goto(API + "/", { waitUntil: "load" });
      await waitForText(phone, "#queries-total", (value) => /^\d+$/.test(value), 10_000, "a number");
      await phone.locator("#querylog-table tbody tr").first().waitFor();
      const overflow = await phone.evaluate(() => {
        const width = document.documentElement.clientWidth;
        const wide = [];
        for (const node of document.querySelectorAll("header, header > *, #status, main, main > section, section > *, section table")) {
          const box = node.getBoundingClientRect();
          if (box.right > width + 0.5 || box.left < -0.5) wide.push(`${node.tagName.toLowerCase()}#${node.id} [${Math.round(box.left)}, ${Math.round(box.right)}]`);
        }
        return { width, scrollWidth: document.documentElement.scrollWidth, wide };
      });
      await phone.screenshot({ path: join(RESULTS, "dashboard-phone.png"), fullPage: true });
      expect(
        overflow.scrollWidth <= overflow.width && overflow.wide.length === 0,
        `page ${overflow.scrollWidth} px wide in a ${overflow.width} px viewport; outside: ${overflow.wide.join(", ")}`,
      );
      await phone.close();
    });

    await step("no script error, failed request or foreign request on the way", async () => {
      expect(problems.length === 0, problems.join("; "));
    });
  } finally {
    if (browser) await browser.close().catch(() => {});
    rmSync(profileDirectory, { recursive: true, force: true });
  }
}

const limit = setTimeout(() => {
  log(`FAIL the run took longer than ${RUN_LIMIT_MS} ms`);
  process.exit(1);
}, RUN_LIMIT_MS);
const started = Date.now();
try {
  await run();
  log(`all checks passed (${Date.now() - started} ms); screenshots in ${RESULTS}`);
  clearTimeout(limit);
} catch {
  log(`FAILED: ${failures.join(", ") || "setup"}`);
  clearTimeout(limit);
  process.exitCode = 1;
}
