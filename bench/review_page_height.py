"""Height of a filing's review page in headless chromium at 1400 px (issue 12: the review
page was ~7,700 px tall with 67 open reason boxes).

    python bench/review_page_height.py --url http://127.0.0.1:8012 --user nanjing \
        --password Demo-Portal-2026 --submission 491 [--shots var/review-shots]

Prints, as the page first opens: document height, visible reason boxes, reason boxes in
the page, items; then the same with every group expanded (the compact page's 全部展开).
Run it against the old and the new code on the same database to compare (docs/PERFORMANCE.md
says how it was done).
"""

import argparse
import json
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]

MEASURE = """() => ({
  height: document.documentElement.scrollHeight,
  reason_boxes: document.querySelectorAll('textarea[name^="reason-"]').length,
  visible_reason_boxes: [...document.querySelectorAll('textarea[name^="reason-"]')].filter(t => t.checkVisibility()).length,
  items: document.querySelectorAll('[id^="ind-"]').length,
})"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--submission", type=int, required=True)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--shots", default="")
    opts = parser.parse_args()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(locale="zh-CN", viewport={"width": opts.width, "height": 900})
        page.goto(f"{opts.url}/accounts/login/")
        page.get_by_label("用户名").fill(opts.user)
        page.get_by_label("密码").fill(opts.password)
        page.get_by_role("button", name="登录").click()
        page.wait_for_load_state()
        page.goto(f"{opts.url}/filings/{opts.submission}/")
        page.wait_for_load_state("networkidle")
        result = {"width": opts.width, "as_opened": page.evaluate(MEASURE)}
        if opts.shots:
            Path(opts.shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=f"{opts.shots}/review-{opts.width}.png", full_page=True)
        expand = page.locator("[data-expand-all]")
        if expand.count():
            expand.click()
            result["all_expanded"] = page.evaluate(MEASURE)
            if opts.shots:
                page.screenshot(path=f"{opts.shots}/review-{opts.width}-expanded.png", full_page=True)
        print(json.dumps(result, ensure_ascii=False))
        browser.close()


if __name__ == "__main__":
    main()
