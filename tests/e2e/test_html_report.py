"""The interactive report and the MLflow UI in a real headless browser (Debian's ``chromium`` driven
by its ``chromium-driver`` through selenium, with no network).

One small sweep (breast_cancer_wisconsin, ε ∈ {1, ∞}, two seeds, reference metrics on, two
evaluation families) is logged to a local store; an ``mlflow server`` on loopback serves that
store while the sweep runs. The tests then check ``report.html`` (loads offline with no console
error, one trace per method present, hiding a method removes its traces, the family selector, a
hover naming a run of the store, byte-identical twice) and the MLflow UI (the experiment opens on
a runs table listing the sweep's runs), and what the runs record for the UI (dataset input, full
names) without their identity or params moving.

Without chromium the browser tests skip — unless ``CI`` is set, where they fail. With
``DPCONDENSE_SCREENSHOTS=DIR`` the page (with a hover label) and the MLflow UI are saved as
``DIR/report_html.png`` and ``DIR/mlflow_ui.png`` (the README's screenshots: ``DIR=docs``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from dpcondense import cli
from sweep_helpers import TINY, free_port, local_runs, spec_of, summary_line

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: the closed network: no first-run, sync, component or background requests; a fresh profile per browser
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1300,1000"]
EXPERIMENT = "html_report"
#: 4 runs: one dataset, ε ∈ {1, ∞}, two seeds; full-data and random-subset metrics; two evaluation families
SWEEP = ["dataset=breast_cancer_wisconsin", "privacy.epsilon=1,inf", "seed=0,1"]
FIXED = ["size=5", "references=true", "eval_model=[decision_tree,logistic_regression]", f"experiment_name={EXPERIMENT}"]
FIGURE = "privacy-utility-breast_cancer_wisconsin"
IDENTITY = re.compile(r"run ([0-9a-f]{64})(?![0-9a-f])")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _need_browser() -> None:
    """Skip (fail under CI) without Debian's chromium + chromedriver or selenium."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        reason = f"no headless browser: {', '.join(missing)} missing (apt-get install chromium chromium-driver)"
        if _in_ci():
            pytest.fail(f"CI is set but {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    """One headless chromium for the module, with a fresh profile and its console log kept."""
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="dpcondense-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _experiment_created(db: Path) -> bool:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as con:
            return con.execute("select count(*) from experiments where name = ?", (EXPERIMENT,)).fetchone()[0] == 1
    except sqlite3.Error:  # not created yet, or mid-migration
        return False


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """(store root, server URL): the sweep, served by ``mlflow server`` started as soon as the
    sweep has created the store (the server's start-up overlaps the runs)."""
    root = tmp_path_factory.mktemp("html")
    env = {**os.environ, "DPCONDENSE_MLRUNS": str(root / "mlruns"), "MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    sweep = subprocess.Popen(
        # in-process runs: for 4 two-step runs, starting joblib workers costs more than it saves
        [sys.executable, "-m", "dpcondense.cli", "run", "-m", *SWEEP, *FIXED, *TINY, "hydra/launcher=basic"],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    db = root / "mlruns" / "mlflow.db"
    deadline = time.monotonic() + 300
    while not _experiment_created(db) and sweep.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{db}", "--artifacts-destination", str(root / "mlruns" / "artifacts")],
        cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env,
    )
    try:
        out, err = sweep.communicate(timeout=600)
        assert sweep.returncode == 0, err[-3000:]
        assert summary_line(out) == "sweep summary: 4 runs: 4 done, 0 skipped (already done), 0 failed"
        deadline = time.monotonic() + 240
        while True:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            assert server.poll() is None, "mlflow server exited"
            assert time.monotonic() < deadline, "mlflow server did not answer"
            time.sleep(0.3)
        yield root, uri
    finally:
        if sweep.poll() is None:
            sweep.kill()
            sweep.wait()
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture(scope="module")
def page(swept, tmp_path_factory):
    """The sweep's ``report.html`` (tables + the page; no static figures), written twice."""
    root, _ = swept
    outs = [tmp_path_factory.mktemp("report_a"), tmp_path_factory.mktemp("report_b")]
    for out in outs:
        args = ["report", "--experiment", EXPERIMENT, "--root", str(root / "mlruns"), "--out", str(out), "--no-figures", "--html"]
        assert cli.main(args) == 0
    return outs


def _wait(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _figure(driver, div_id: str) -> dict:
    """What plotly drew in one figure: legend texts, drawn scatter traces, the traces' state."""
    return driver.execute_script(
        """const gd = document.getElementById(arguments[0]);
        return {legend: Array.from(gd.querySelectorAll('.legend .traces')).map(e => e.textContent),
                drawn: gd.querySelectorAll('.scatterlayer .trace').length,
                traces: gd._fullData.map(t => ({uid: t.uid, name: t.name, visible: t.visible, meta: t.meta}))};""",
        div_id,
    )


def _screenshot(driver, name: str) -> None:
    """Save the window as ``$DPCONDENSE_SCREENSHOTS/<name>`` when that variable is set."""
    folder = os.environ.get("DPCONDENSE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(Path(folder) / name))


def _store_identities(root: Path) -> set[str]:
    _, runs = local_runs(root, EXPERIMENT)
    return {r.data.tags["identity"] for r in runs}


def test_the_page_is_byte_identical_twice(page):
    a, b = (out / "report.html" for out in page)
    assert a.read_bytes() == b.read_bytes()
    text = a.read_text(encoding="utf-8")
    assert "<script src" not in text and "<link" not in text  # nothing to fetch: the page opens offline
    print(f"\nreport.html: {a.stat().st_size / 1e6:.2f} MB")


def test_the_page_loads_offline_with_one_trace_per_method(browser, page, swept):
    browser.get((page[0] / "report.html").as_uri())
    _wait(lambda: browser.execute_script(
        "return Array.from(document.querySelectorAll('.plotly-graph-div')).every(g => g.querySelector('.main-svg'))"),
        what="every figure drawn")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0  # nothing fetched
    from dpcondense.reporting import load_runs, method_label

    runs = load_runs(EXPERIMENT, root=swept[0] / "mlruns")
    present = runs.methods("breast_cancer_wisconsin")
    assert set(present) == {"dpzo", "random_subset", "full_data"}
    expected = sorted("full data" if m == "full_data" else method_label(m) + ("" if runs.is_private(m) else " (not private)")
                      for m in present)
    fig = _figure(browser, FIGURE)
    assert sorted(fig["legend"]) == expected
    # only the selected family (the condensing one) is shown
    assert {t["meta"]["family"] for t in fig["traces"] if t["visible"] is True} == {"decision_tree"}


def test_hiding_a_method_removes_its_trace(browser, page):
    from selenium.webdriver.common.by import By

    browser.get((page[0] / "report.html").as_uri())
    _wait(lambda: browser.execute_script(f"return document.getElementById('{FIGURE}').querySelector('.legend')"), what="legend")
    before = _figure(browser, FIGURE)
    dpzo = [t for t in before["traces"] if t["visible"] is True and t["meta"]["method"] == "dpzo"]
    assert {t["meta"]["role"] for t in dpzo} >= {"line"}
    item = next(e for e in browser.find_elements(By.CSS_SELECTOR, f"#{FIGURE} .legend .traces") if e.text == "DP-ZO")
    item.find_element(By.CSS_SELECTOR, ".legendtoggle").click()
    after = _wait(lambda: (f := _figure(browser, FIGURE))["drawn"] < before["drawn"] and f, what="the trace to go")
    assert after["drawn"] == before["drawn"] - len(dpzo)
    hidden = {t["uid"] for t in after["traces"] if t["visible"] == "legendonly"}
    assert hidden == {t["uid"] for t in dpzo}
    assert "DP-ZO" in after["legend"]  # still listed, to show it again
    assert not browser.find_elements(By.CSS_SELECTOR, f"#{FIGURE} .trace{dpzo[-1]['uid']} path.point")


def test_the_family_selector_and_a_hover_naming_a_run_of_the_store(browser, page, swept):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    browser.get((page[0] / "report.html").as_uri())
    _wait(lambda: browser.execute_script(f"return document.getElementById('{FIGURE}').querySelector('.updatemenu-header')"),
          what="the family menu")
    browser.find_element(By.CSS_SELECTOR, f"#{FIGURE} .updatemenu-header").click()
    option = _wait(lambda: [e for e in browser.find_elements(By.CSS_SELECTOR, f"#{FIGURE} .updatemenu-dropdown-button")
                            if e.text == "evaluated with logistic regression"], what="the menu's options")[0]
    option.click()
    fig = _wait(lambda: (f := _figure(browser, FIGURE)) and {t["meta"]["family"] for t in f["traces"] if t["visible"] is True}
                == {"logistic_regression"} and f, what="the family to switch")
    line = next(t for t in fig["traces"] if t["visible"] is True and t["meta"] == {"family": "logistic_regression", "method": "dpzo", "role": "line"})
    point = browser.find_elements(By.CSS_SELECTOR, f"#{FIGURE} .trace{line['uid']} path.point")[0]
    ActionChains(browser).move_to_element(point).perform()
    text = _wait(lambda: browser.execute_script(
        f"return Array.from(document.querySelectorAll('#{FIGURE} .hoverlayer .hovertext')).map(e => e.textContent).join(' ')"),
        what="the hover label")
    assert "evaluated with logistic regression" in text and "seed 0" in text and "seed 1" in text
    shown = set(IDENTITY.findall(text))
    assert len(shown) == 2 and shown <= _store_identities(swept[0])
    _screenshot(browser, "report_html.png")


def test_runs_record_their_dataset_and_full_names_without_their_identity_moving(swept):
    from dpcondense.benchmark.tracking import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG
    from dpcondense.datasets import schema_for
    from dpcondense.datasets._common import recorded_checksum

    root, _ = swept
    client, runs = local_runs(root, EXPERIMENT)
    assert client.get_experiment_by_name(EXPERIMENT).tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND
    checksum = recorded_checksum("breast_cancer_wisconsin")
    public = schema_for("breast_cancer_wisconsin")
    for run in runs:
        tags = run.data.tags
        spec = spec_of(f"privacy.epsilon={tags['epsilon']}", f"seed={tags['seed']}", *SWEEP[:1], *FIXED, *TINY)
        assert tags["identity"] == spec.identity and run.data.params == spec.params()
        eps = "∞" if tags["epsilon"] == "inf" else "1"
        assert run.info.run_name == (f"dataset=breast_cancer_wisconsin family=decision_tree method=dpzo ε={eps} size=5 "
                                     f"seed={tags['seed']} eval=decision_tree,logistic_regression")
        (data,) = run.inputs.dataset_inputs
        assert (data.dataset.name, data.dataset.digest) == ("breast_cancer_wisconsin", checksum[:32])
        assert checksum in data.dataset.profile
        columns = [c["name"] for c in json.loads(data.dataset.schema)["mlflow_colspec"]]
        assert columns == public.feature_names + public.target_columns  # the public schema: columns, never rows


def test_the_mlflow_ui_opens_the_experiment_on_its_runs_table(browser, swept):
    from dpcondense.benchmark.tracking import ui_url

    root, uri = swept
    client, runs = local_runs(root, EXPERIMENT)
    experiment_id = client.get_experiment_by_name(EXPERIMENT).experiment_id
    browser.set_window_size(1600, 900)  # room for the runs table next to the UI's side panels
    browser.get(ui_url(uri, experiment_id))
    names = {r.info.run_name for r in runs}
    _wait(lambda: f"/experiments/{experiment_id}/runs" in browser.current_url, timeout=60, what="the runs view")
    body = _wait(lambda: (t := browser.execute_script("return document.body.innerText")) and all(n in t for n in names) and t,
                 timeout=60, what="every run of the sweep in the runs table")
    assert "Run Name" in body
    _screenshot(browser, "mlflow_ui.png")
