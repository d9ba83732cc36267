"""Drives sluice's web console in headless Chromium, as an operator would,
and prints what it saw as JSON.

It opens the console at the address `sluice serve` printed (the admin token
in the fragment), waits for the table list, runs queries from the SQL box
(Ctrl+Enter and the Run button), reads the results table and the chart's
bars back, sends a game event and waits for it in the live tail, takes a
screenshot, then opens the console with a wrong token and recovers with
the token field.

usage: console.py CONSOLE_URL SCREENSHOT_PNG

Debian's chromium and chromedriver (tests/run.sh installs them), selenium 4;
the driver's path is given, so Selenium Manager never looks for one online.
"""

import json
import os
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

GUILDS = "select Host, count(*) from join_guilds group by Host"
ITEMS = (
    "select item_type, count(*) as n from events_buy "
    "where item_type is not null group by item_type order by item_type"
)
TAIL_HOST = "tail-check.example.com"


def log(message: str) -> None:
    print(f"console.py: {message}", file=sys.stderr, flush=True)


def browser() -> webdriver.Chrome:
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def wait(driver, what: str, check, seconds: float = 60):
    """Waits for `check`, saying what it waits for, so a failure on a
    loaded machine names its step."""
    log(f"waiting for {what}")
    try:
        return WebDriverWait(
            driver,
            seconds,
            poll_frequency=0.2,
            # A list redrawn between finding an element and reading it.
            ignored_exceptions=(StaleElementReferenceException,),
        ).until(lambda d: check(d))
    except TimeoutException:
        raise SystemExit(f"timed out after {seconds} s waiting for {what}") from None


def css(driver, selector: str):
    return driver.find_elements(By.CSS_SELECTOR, selector)


def items(driver, selector: str):
    """Each element `selector` matches, as {"text", "data": {name: value}},
    read in one script. The console redraws its table and plugin lists
    every few seconds, so elements found in one WebDriver call may be gone
    by the next (a stale element); one script reads one drawing."""
    return driver.execute_script(
        """
        return Array.from(document.querySelectorAll(arguments[0])).map(e => ({
          text: e.innerText,
          data: Object.assign({}, e.dataset),
        }));
        """,
        selector,
    )


def table_rows(driver, name: str):
    """The row count the table list shows for `name`, once it shows one."""
    cells = items(driver, f'#tables li[data-table="{name}"] .rows[data-rows]')
    return int(cells[0]["data"]["rows"]) if cells else None


def run(driver, sql: str, submit: str):
    """Types `sql` into the SQL box, runs it with Ctrl+Enter or the Run
    button, and returns the results table as [[header...], [cell...]...]."""
    box = driver.find_element(By.ID, "sql")
    box.clear()
    box.send_keys(sql)
    if submit == "keys":
        box.send_keys(Keys.CONTROL, Keys.ENTER)
    else:
        driver.find_element(By.ID, "run").click()
    wait(
        driver,
        f"the answer to {sql!r}",
        lambda d: d.find_element(By.ID, "results").get_attribute("data-state")
        in ("done", "error"),
    )
    results = driver.find_element(By.ID, "results")
    if results.get_attribute("data-state") == "error":
        return {"error": results.text}
    header = [
        th.text.split("\n")[0]
        for th in results.find_elements(By.CSS_SELECTOR, "thead th")
    ]
    rows = [
        [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
        for tr in results.find_elements(By.CSS_SELECTOR, "tbody tr")
    ]
    return {
        "header": header,
        "rows": rows,
        "meta": driver.find_element(By.ID, "result-meta").text,
        "bars": len(css(driver, "#chart svg rect.bar")),
        "bar_labels": [t.text for t in css(driver, "#chart svg text.label")],
    }


def send_tail_event(base: str) -> None:
    request = urllib.request.Request(
        f"{base}/", headers={"Host": TAIL_HOST}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200, response.status


def main() -> None:
    url, screenshot = sys.argv[1], sys.argv[2]
    base = url.split("/console")[0]
    token = url.split("#token=")[1]
    out = {}
    driver = browser()
    try:
        driver.get(url)
        wait(driver, "the token to leave the address bar", lambda d: "#" not in d.current_url)
        out["address_after_load"] = driver.current_url
        out["events_buy_rows"] = wait(
            driver, "events_buy with a row count", lambda d: table_rows(d, "events_buy")
        )
        out["listed_tables"] = [
            li["data"]["table"] for li in items(driver, "#tables li[data-table]")
        ]
        log(f"tables: {out['listed_tables']}")

        out["guilds"] = run(driver, GUILDS, "keys")
        out["items"] = run(driver, ITEMS, "button")
        out["unknown_table"] = run(driver, "select * from nope", "button")
        log("queries answered")

        # The chart of a result without a number says so.
        out["no_number"] = run(driver, "select 'a' as letter", "button")
        out["no_number"]["chart_note"] = driver.find_element(By.ID, "chart").text
        # A chip runs its example: purchases per minute, a line from two
        # minutes on, else a bar. Every mark's tooltip says `label: value`.
        driver.find_element(
            By.XPATH, "//button[@class='chip' and text()='Purchases per minute']"
        ).click()
        wait(
            driver,
            "the per-minute chart",
            lambda d: d.find_element(By.ID, "results").get_attribute("data-state") == "done"
            and "by minute" in d.find_element(By.ID, "chart-note").text,
        )
        out["per_minute"] = [
            mark.get_attribute("textContent")
            for mark in css(driver, "#chart svg rect.bar title, #chart svg circle.point title")
        ]
        # A time series is a line.
        series = run(
            driver,
            "select day, n from (values (date '2024-01-01', 3), (date '2024-01-02', 5), "
            "(date '2024-01-03', 4)) as t(day, n)",
            "button",
        )
        series["lines"] = len(css(driver, "#chart svg polyline.line"))
        series["points"] = [
            mark.get_attribute("textContent")
            for mark in css(driver, "#chart svg circle.point title")
        ]
        out["series"] = series
        # Back to a chart worth a screenshot.
        out["guilds_again"] = run(driver, GUILDS, "button")

        wait(
            driver,
            "the live tail to connect",
            lambda d: d.find_element(By.ID, "tail").get_attribute("data-state") == "live",
        )
        # The stream starts at the topic's end once the consumer has its
        # offsets; an event sent before that moment is not shown, so send
        # until one is.
        seen = False
        for _ in range(10):
            send_tail_event(base)
            try:
                WebDriverWait(driver, 3, poll_frequency=0.2).until(
                    lambda d: TAIL_HOST in d.find_element(By.ID, "tail").text
                )
                seen = True
                break
            except TimeoutException:
                continue
        out["tail_saw_event"] = seen
        out["tail_first"] = items(driver, "#tail li")[0]["text"]
        # The rate: a number once two samples of /metrics are in, and the
        # counter it differences covers every event sent so far.
        wait(
            driver,
            "a live event rate",
            lambda d: d.find_element(By.ID, "rate").get_attribute("data-rate") is not None,
        )
        rate = driver.find_element(By.ID, "rate")
        out["rate_text"] = rate.find_element(By.CLASS_NAME, "value").text
        out["events_logged"] = float(rate.get_attribute("data-total"))
        out["plugins"] = [
            {"name": li["data"]["plugin"], "text": li["text"]}
            for li in items(driver, "#plugins li[data-plugin]")
        ]
        driver.find_element(By.ID, "tail-pause").click()
        out["pause_button"] = driver.find_element(By.ID, "tail-pause").text
        driver.find_element(By.ID, "tail-pause").click()

        driver.save_screenshot(screenshot)
        log(f"screenshot in {screenshot}")

        # A wrong token: a clear message, then the token field recovers.
        driver.get(f"{base}/console#token=not-the-token")
        wait(
            driver,
            "the wrong token's message",
            lambda d: d.find_element(By.ID, "auth").is_displayed()
            and "refused" in d.find_element(By.ID, "auth-message").text,
        )
        out["wrong_token_message"] = driver.find_element(By.ID, "auth-message").text
        field = driver.find_element(By.ID, "token-input")
        field.send_keys(token, Keys.ENTER)
        wait(driver, "the form to go", lambda d: not d.find_element(By.ID, "auth").is_displayed())
        out["rows_after_token_field"] = wait(
            driver, "the tables again", lambda d: table_rows(d, "events_buy")
        )

        out["browser_errors"] = [
            entry["message"]
            for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE"
        ]
    finally:
        driver.quit()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
