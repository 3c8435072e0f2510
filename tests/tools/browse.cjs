// Opens pages in headless Chromium (Debian's, driven by playwright-core) and reports, as JSON
// on stdout, what a reader would meet: console errors, every request the page made, the texts
// of the asked-for elements, and a screenshot.
// usage: node browse.cjs PLAN.json    (tests/helpers.py's browse() writes the plan)
const fs = require("fs");
const { chromium } = require("playwright-core");

async function visit(browser, page) {
  const viewport = page.viewport || { width: 1280, height: 900 };
  const context = await browser.newContext({ viewport });
  const tab = await context.newPage();
  const errors = [];
  const requests = [];
  tab.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  tab.on("pageerror", (error) => errors.push(String(error)));
  tab.on("request", (request) => requests.push(request.url()));
  await tab.goto(page.url, { waitUntil: "load" });
  if (page.waitFor) {
    try {
      await tab.waitForSelector(page.waitFor, { timeout: 20000 });
    } catch (error) {
      errors.push(`no ${page.waitFor} within 20 s`);
    }
  }
  const texts = {};
  const tops = {};
  for (const selector of page.texts || []) {
    // innerText where the element has one (HTML), textContent otherwise (SVG text).
    texts[selector] = await tab
      .locator(selector)
      .evaluateAll((elements) => elements.map((e) => e.innerText ?? e.textContent));
    // Where each one starts on the page, in pixels from the top (is it in the first screen?).
    tops[selector] = await tab
      .locator(selector)
      .evaluateAll((elements) => elements.map((e) => e.getBoundingClientRect().top + window.scrollY));
  }
  const rights = {};
  for (const selector of page.texts || []) {
    rights[selector] = await tab
      .locator(selector)
      .evaluateAll((elements) => elements.map((e) => e.getBoundingClientRect().right));
  }
  // Flamegraph labels whose text is cut (page.cut: selectors of elements inside .frame
  // boxes; those that clip their overflow and have more text than width): each with the
  // width its text needs and the room it had, in pixels: its frame's width, and for the last
  // frame of a row also the row's empty end beside it.
  const cut = {};
  for (const selector of page.cut || []) {
    cut[selector] = await tab.locator(selector).evaluateAll((elements) =>
      elements
        .filter((e) => getComputedStyle(e).overflowX !== "visible" && e.scrollWidth > e.clientWidth)
        .map((e) => {
          const frame = e.closest(".frame");
          const row = frame.parentElement;
          const box = frame.getBoundingClientRect();
          const last = row.lastElementChild === frame && row.classList.contains("children");
          const room = last ? row.getBoundingClientRect().right - box.left : box.width;
          return { text: e.textContent, needs: e.scrollWidth, room };
        }),
    );
  }
  const height = await tab.evaluate(() => document.documentElement.scrollHeight);
  if (page.screenshot) await tab.screenshot({ path: page.screenshot, fullPage: true });
  const title = await tab.title();
  await context.close();
  return { url: page.url, title, errors, requests, texts, tops, rights, cut, height };
}

async function main() {
  const plan = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const browser = await chromium.launch({
    executablePath: plan.chromium,
    args: ["--no-sandbox", "--disable-gpu"],
  });
  const results = [];
  try {
    for (const page of plan.pages) results.push(await visit(browser, page));
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
