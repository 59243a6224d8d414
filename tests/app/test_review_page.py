"""The Review page through AppTest: recorded exports with integrity checks, and verdicts."""

from __future__ import annotations

import html
import json
import re
import zipfile

import pandas as pd

from fairkit.__main__ import main as cli
from fairkit.audit import AuditLog, chain_head, record_verdict
from fairkit.export import read_bundle_record
from fairkit.metrics import METRIC_LABELS, least_fair_grouping, metric_value
from fairkit.record import render_html
from ui import review as rv
from ui import tradeoffs as ut

from .conftest import new_session, texts


def export_one(at, rationale="Within tolerance; smallest accuracy loss.", set_eta=True) -> None:
    at.switch_page("views/tradeoffs.py").run()
    if set_eta:
        at.select_slider(key=ut.W_ETA).set_value(1.0).run()
    at.text_input(key=ut.W_ACTOR).input("Ana").run()
    at.button(key="tradeoffs.record").click().run()
    at.switch_page("views/export.py").run()
    at.text_input(key="w.export.decider").input("Dr. Decider").run()
    at.text_area(key="w.export.rationale").input(rationale).run()
    at.button(key="export.go").click().run()
    assert not at.exception, at.exception


def card_of(at) -> str:
    """The headline card's Markdown on the page."""
    return next(m.value for m in at.markdown if m.value.startswith("- **Model:**"))


def test_empty_review(fast_env):
    at = new_session()
    at.switch_page("views/review.py").run()
    assert any("No decision has been exported yet" in i for i in texts(at.info))
    assert not at.exception


def test_committee_reads_the_record_and_signs_off(trained, fast_env):
    export_one(trained)
    # The committee works in another browser session: it sees the recorded decision only.
    at = new_session()
    at.switch_page("views/review.py").run()
    assert not at.exception, at.exception
    assert any("Integrity verified" in s for s in texts(at.success))
    record = next(m.value for m in at.markdown if m.value.startswith("### Decision record"))
    assert "**Dr. Decider**" in record and "### Disparity audit (test)" in record
    # The headline card comes first: the decision, its numbers, who decided and why.
    card = card_of(at)
    assert "Within tolerance; smallest accuracy loss." in card and "**Decided by:** **Dr. Decider**" in card
    assert "eta **1**" in card and "**Decision threshold:** **0.50**" in card
    assert "**Sign-off status:** **not reviewed yet**" in card
    assert [m.value for m in at.markdown].index(card) < [m.value for m in at.markdown].index(record)
    assert {d.proto.label for d in at.get("download_button")} == {"Download the record (PDF)",
                                                                  "Download the record (HTML)"}
    assert len(at.get("plotly_chart")) == 1  # the frontier snapshot
    selections = next(t.value for t in at.table if t.proto.alt == "Recorded selections")
    assert list(selections["By"]) == ["Ana"] and list(selections["Method"]) == ["Fairness-regularized network"]

    # A verdict needs a name; a dissent needs a reason.
    form_submit = at.button[0]
    at.radio[0].set_value("dissent")
    form_submit.click().run()
    assert any("Enter your name" in e for e in texts(at.error))
    at.text_input[0].input("Prof. Reviewer")
    at.radio[0].set_value("dissent")
    at.button[0].click().run()
    assert any("reason for the dissent" in e for e in texts(at.error))
    assert at.text_input[0].value == "Prof. Reviewer"  # nothing typed is lost
    at.text_input[0].input("Prof. Reviewer")
    at.radio[0].set_value("signoff")
    at.button[0].click().run()
    assert not at.exception, at.exception
    reviews = next(t.value for t in at.table if t.proto.alt == "Reviews of this decision")
    assert list(reviews["Reviewer"]) == ["Prof. Reviewer"] and list(reviews["Verdict"]) == ["Sign off"]
    # Said in words too (only the table changed, which a screen reader does not announce).
    (signoff_id,) = [e.id for e in AuditLog().entries(kind="signoff").itertuples()]
    (done,) = [t.replace("\\", "") for t in texts(at.success) if t.startswith("Your sign-off")]
    # ... with the log's head to keep (committee audit, session 53: a dissent removed with its
    # head passed every check; a head kept outside the log makes that removal detectable).
    head = "{}:{}".format(*chain_head(AuditLog()))
    assert done.startswith(f"Your sign-off was added to the record (audit entry {signoff_id}). The audit log's "
                           f"head is now {head}") and f"fairkit audit verify --head {head}" in done
    # A downloaded copy carries the review's evidence: who, the verdict, the bundle's hash, the head.
    (export,) = AuditLog().entries(kind="export").itertuples()
    rec = read_bundle_record(export.details["bundle"])["record"]
    status = rv.tally(export.subject, rv.log_state())
    state = rv.log_state()
    copy = render_html(rec, reviews=rv.evidence(export.subject, state, status, rv.verdicts(export.subject, state)))
    for said in ("Review, as the audit log stood when this copy was made", "Prof. Reviewer", "Sign off",
                 export.subject, f"fairkit audit verify --head {head}", status):
        assert html.escape(said) in copy, said
    # Without sign-in configured, the page and the record say the name is self-declared.
    assert list(reviews["Identity"]) == ["self-declared"]
    assert ("**Sign-off status:** **1 sign-off, 0 dissents; the verdict is under a self-declared name, "
            "which anyone with the dashboard can type (sign-in verifies names)**") in card_of(at)
    assert any("self-declared" in c for c in texts(at.caption))
    (export,) = AuditLog().entries(kind="export").itertuples()
    (signoff,) = AuditLog().entries(kind="signoff").itertuples()
    assert signoff.subject == export.subject  # the verdict is tied to the manifest hash
    assert signoff.details["identity"]["verified_by"] == "self-declared"
    assert signoff.details["checked"]["bundle_signature"].startswith("unsigned")
    # The bundle was exported without a key: the page says it is unsigned (once).
    (unsigned,) = [w for w in texts(at.warning) if "Unsigned bundle" in w]
    assert unsigned.startswith("**Unsigned bundle.** Its hashes detect corruption, not tampering"), unsigned
    # The sign-in note reads as a sentence.
    (note,) = [c for c in texts(at.caption) if c.startswith("Sign-in is not configured")]
    assert note == ("Sign-in is not configured, so the name you give to record a verdict is recorded as typed "
                    "(**self-declared**), not verified.")
    assert any("unbroken hash chain" in c for c in texts(at.caption))


def test_the_decider_cannot_review_their_own_decision(trained, fast_env):
    export_one(trained)  # decided by "Dr. Decider"
    at = new_session()
    at.switch_page("views/review.py").run()
    for kind, text in (("signoff", ""), ("dissent", "Changed my mind.")):
        at.text_input[0].input("  dr.  DECIDER ")  # the same name, however typed
        at.radio[0].set_value(kind)
        at.text_area[0].input(text)
        at.button[0].click().run()
        assert not at.exception, at.exception
        assert any("made this decision (the record's decider)" in e and "someone else" in e
                   for e in texts(at.error)), texts(at.error)
    assert AuditLog().entries(kind="signoff").empty and AuditLog().entries(kind="dissent").empty
    assert "**Sign-off status:** **not reviewed yet**" in card_of(at)
    # The decider may comment; someone else signs off, and only that counts.
    at.text_input[0].input("Dr. Decider")
    at.radio[0].set_value("comment")
    at.text_area[0].input("Happy to answer questions.")
    at.button[0].click().run()
    at.text_input[0].input("Prof. Reviewer")
    at.radio[0].set_value("signoff")
    at.button[0].click().run()
    assert not texts(at.error), texts(at.error)
    assert "**Sign-off status:** **1 sign-off, 0 dissents (1 comment); the verdict is under" in card_of(at)
    from fairkit.audit import is_decider

    assert is_decider(rv.auth.Identity(name="Dr. Decider", email="d@example.org", issuer="x"),
                      {"decider": "dr. decider"})
    assert is_decider(rv.auth.Identity(name="D", email="d@example.org", issuer="x"),
                      {"decider": "Someone", "actor": "D <d@example.org>"})  # who exported it
    assert not is_decider(rv.auth.Identity(name="Prof. Reviewer"), {"decider": "Dr. Decider", "actor": "Dr. Decider"})
    assert is_decider("  dr.  DECIDER ", {"decider": "Dr. Decider"})  # a typed name


def test_a_modified_bundle_is_refused(trained, fast_env):
    export_one(trained)
    (path,) = (fast_env / "exports").glob("*.zip")
    # Rewrite the rationale inside the zip, leaving the manifest as it was.
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["decision_record.md"] = members["decision_record.md"].replace(b"Within", b"Outside")
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    at = new_session()
    at.switch_page("views/review.py").run()
    assert not at.exception, at.exception
    errors = texts(at.error)
    assert any("cannot be trusted" in e and "decision_record.md" in e for e in errors), errors
    assert not any(m.value.startswith("### Decision record") for m in at.markdown)
    # A failed check stops the review: no sign-off form, and no server path on the page.
    assert not at.text_input and not at.radio and not at.text_area and not at.button
    page = " ".join(texts(at.error) + texts(at.caption) + texts(at.markdown) + texts(at.success))
    assert str(fast_env) not in page and str(path.parent) not in page
    assert path.name.replace("_", "\\_") in page or path.name in page


def test_a_bundle_of_an_earlier_format_is_said_as_such_not_as_tampered(trained, fast_env, monkeypatch):
    """Upgrade audit, session 48: a bundle an earlier fairkit wrote (format 1) read "This bundle
    cannot be trusted ... Do not deploy it", as if changed by someone. It is said as an earlier
    format, with what to do; no verdict is recorded on it here. (This fairkit's own bundle stands
    in for it: the page is run as a fairkit of the next format.)"""
    from fairkit import export as fk_export

    export_one(trained)
    monkeypatch.setattr(fk_export, "FORMAT_VERSION", fk_export.FORMAT_VERSION + 1)
    at = new_session()
    at.switch_page("views/review.py").run()
    assert not at.exception, at.exception
    assert not any("cannot be trusted" in e for e in texts(at.error)), texts(at.error)
    (said,) = [w for w in texts(at.warning) if "format this fairkit does not read" in w]
    assert "export the run again" in said
    assert not at.text_input and not at.radio  # no verdict form


def test_a_log_that_fails_its_check_stops_the_review(trained, fast_env):
    import sqlite3

    export_one(trained)
    log = AuditLog()
    (export,) = log.entries(kind="export").itertuples()
    record_verdict(log, "signoff", actor="Eve", manifest_sha256=export.subject, bundle=export.details["bundle"])
    selection = int(log.entries(kind="selection")["id"].iloc[0])
    con = sqlite3.connect(log.path, isolation_level=None)
    con.execute("DROP TRIGGER events_no_update")
    con.execute("UPDATE events SET actor = 'Mallory' WHERE kind = 'selection'")
    con.close()
    at = new_session()
    at.switch_page("views/review.py").run()
    assert not at.exception, at.exception
    assert any("audit log fails its check" in e and f"altered at entry {selection}:" in e
               for e in texts(at.error)), texts(at.error)
    assert not at.text_input and not at.radio  # no verdict form
    # ... and counts no sign-off (committee audit, session 53: the page counted every verdict of
    # a log that failed its check), in the card and in the status alike.
    said = " ".join(texts(at.markdown) + texts(at.caption) + texts(at.info) + texts(at.warning))
    assert "1 sign-off" not in said.replace("1 sign-off(s) are not counted", "")
    assert "the audit log fails its check, so 1 sign-off(s) are not counted" in said, said[:3000]


def test_a_trusted_key_that_cannot_be_read_counts_no_sign_off(trained, fast_env, monkeypatch):
    """Hostile-input audit, session 53: with the configured public key unreadable the page said
    the log fails its check and, below it, "1 sign-off" for a sign-off appended without any key."""
    export_one(trained)
    log = AuditLog()
    (export,) = log.entries(kind="export").itertuples()
    record_verdict(log, "signoff", actor="Eve", manifest_sha256=export.subject, bundle=export.details["bundle"])
    record_verdict(log, "dissent", actor="Carol", manifest_sha256=export.subject, bundle=export.details["bundle"],
                   text="Too wide.")
    junk = fast_env / "junk.pub"
    junk.write_text("not a key")
    monkeypatch.setenv("FAIRKIT_TRUST_KEY", str(junk))
    at = new_session()
    at.switch_page("views/review.py").run()
    assert not at.exception, at.exception
    said = " ".join(texts(at.markdown) + texts(at.caption))
    assert "0 sign-offs, 1 dissent" in said and "the audit log fails its check, so 1 sign-off(s) are not counted" in said
    # A downloaded copy gives no head of a log that fails its check (it proves nothing), and says why.
    state = rv.log_state()
    copy = render_html(read_bundle_record(export.details["bundle"], trusted_key=False)["record"],
                       reviews=rv.evidence(export.subject, state, rv.tally(export.subject, state),
                                           rv.verdicts(export.subject, state)))
    assert "The audit log failed its check when this copy was made" in copy and "audit verify --head" not in copy


def test_a_signing_key_alone_is_also_the_key_the_review_checks_with(fast_env, monkeypatch):
    """Hostile-input audit, session 53: a dashboard given only a signing key signed every export
    and verdict and checked none (a signed dissent rewritten into a sign-off counted)."""
    from fairkit.keys import key_id, load_private_key, write_key_pair

    write_key_pair(fast_env / "org.pem", fast_env / "org.pub")
    monkeypatch.setenv("FAIRKIT_SIGNING_KEY", str(fast_env / "org.pem"))
    monkeypatch.delenv("FAIRKIT_TRUST_KEY", raising=False)
    AuditLog().append("comment", actor="x", subject="s", text="t")
    assert rv.log_state().chain.key_id == key_id(load_private_key(fast_env / "org.pem"))


def test_a_log_changed_so_that_it_cannot_be_opened_is_said_not_a_crash(trained, fast_env):
    """Hostile-input audit, session 53: a VIEW added to the log's file stopped the page on an
    unexpected error; the command line said it as bad input (exit 2) where the check failed."""
    import sqlite3

    export_one(trained)
    con = sqlite3.connect(AuditLog().path, isolation_level=None)
    con.execute("CREATE VIEW v AS SELECT 1")
    con.close()
    at = new_session()
    at.switch_page("views/review.py").run()
    assert not at.exception, at.exception
    (said,) = [e for e in texts(at.error) if "audit log fails its check" in e]
    assert "holds SQLite objects a fairkit audit log does not have (v)" in said
    assert not at.selectbox and not at.text_input  # nothing read from it
    assert cli(["audit", "verify"]) == 1


def test_a_bundle_exported_with_the_cli_is_reviewed_like_any_other(fast_env, tmp_path_factory):
    # The CLI's own folders, away from FAIRKIT_HOME: the entry must carry where the bundle is.
    work = tmp_path_factory.mktemp("cli")
    assert cli(["sweep", "--dataset", "german", "--methods", "unconstrained", "--etas", "0",
                "--out", str(work / "sweep")]) == 0
    run = pd.read_csv(work / "sweep" / "results.csv")["run_id"].iloc[0]
    assert cli(["export", "--store", str(work / "sweep"), "--run", run, "--rationale",
                "Chosen on the command line.", "--decider", "CLI Committee", "--n-boot", "50",
                "--out", str(work / "bundle.zip")]) == 0
    at = new_session()
    at.switch_page("views/review.py").run()
    assert not at.exception, at.exception
    assert not texts(at.error), texts(at.error)
    assert any("Integrity verified" in s for s in texts(at.success))
    record = next(m.value for m in at.markdown if m.value.startswith("### Decision record"))
    assert "**CLI Committee**" in record and "Chosen on the command line." in card_of(at)
    assert len(at.get("plotly_chart")) == 1
    # A verdict on it is tied to the bundle's manifest hash, as for a dashboard export.
    at.text_input[0].input("Prof. Reviewer")
    at.radio[0].set_value("signoff")
    at.button[0].click().run()
    (export,) = AuditLog().entries(kind="export").itertuples()
    (signoff,) = AuditLog().entries(kind="signoff").itertuples()
    assert signoff.subject == export.subject == export.details["manifest_sha256"]
    assert AuditLog().verify().ok


def test_uploads_and_dashboard_sweeps_are_logged(trained, fast_env):
    import hashlib

    from ui import state
    from ui.auth import ANONYMOUS
    from ui.controls import UPLOAD

    (sweep,) = AuditLog().entries(kind="sweep").itertuples()
    assert sweep.details["dataset"] == "german" and sweep.details["runs"] >= 3
    assert sweep.actor == ANONYMOUS and sweep.details["identity"]["verified_by"] == "self-declared"
    at = new_session()
    at.radio(key=state.W_SOURCE).set_value(UPLOAD).run()
    data = ("x,g,y\n" + "".join(f"{i},{'ab'[i % 2]},{i % 3 == 0}\n" for i in range(60))).encode()
    at.file_uploader(key=state.W_UPLOAD).set_value(("loans.csv", data, "text/csv")).run()
    at.run()  # a rerun reads the same file again: logged once
    assert not at.exception, at.exception
    (upload,) = AuditLog().entries(kind="upload").itertuples()
    assert upload.subject == hashlib.sha256(data).hexdigest()  # by content hash
    assert (upload.details["name"], upload.details["rows"], upload.details["columns"]) == ("loans.csv", 60, 3)
    assert AuditLog().verify().ok


def _shown(text: str) -> str:
    return text.replace("\\", "")


def test_one_metric_shows_one_value_on_trade_offs_the_record_and_review(trained, fast_env):
    at = trained
    at.switch_page("views/tradeoffs.py").run()
    at.select_slider(key=ut.W_ETA).set_value(1.0).run()
    panel = next(t.value for t in at.table if t.proto.alt == ut.METRICS_ALT).set_index("Metric")
    export_one(at)
    (path,) = (fast_env / "exports").glob("*.zip")
    rec = read_bundle_record(path, trusted_key=False)["record"]
    rows = rec["content"]["metrics"]["test"]["gaps"]
    review = new_session()
    review.switch_page("views/review.py").run()
    card = _shown(card_of(review))
    for key in ("demographic_parity_difference", "equalized_odds_difference", "disparate_impact_gap"):
        label = METRIC_LABELS[key]
        trade_offs = _shown(panel.loc[label, "Test"])
        gaps = rows[least_fair_grouping(rows, key)]  # the headline's grouping for this gap
        v, lo, hi = metric_value(gaps, key)
        assert trade_offs == f"{v:.3f} [{lo:.3f}, {hi:.3f}]", key  # the record's JSON
        assert f"**{label} ({gaps['attribute']}, test)" in card and f"** {trade_offs}" in card, key  # Review


def test_the_chosen_model_is_on_the_chart_when_it_is_not_on_the_frontier(trained, fast_env):
    at = trained
    export_one(at)
    (first,) = (fast_env / "exports").glob("*.zip")
    front = read_bundle_record(first, trusted_key=False)["frontier"]
    on_front = {float(e) for e in front.loc[front["method"] == "regularized", "eta"]}
    at.switch_page("views/tradeoffs.py").run()
    at.selectbox(key=ut.W_METHOD).set_value("regularized").run()
    # Each slider stop's label ends with its eta.
    etas = [float(re.search(r"\(eta ([^)]+)\)$", o).group(1)) for o in at.select_slider(key=ut.W_ETA).options]
    off = [e for e in etas if e not in on_front]
    assert off, "the tiny sweep has a dominated regularized run"
    at.select_slider(key=ut.W_ETA).set_value(off[0]).run()
    export_one(at, set_eta=False)
    review = new_session()
    review.switch_page("views/review.py").run()  # the newest export first
    (chart,) = review.get("plotly_chart")
    names = [t.get("name") for t in json.loads(chart.proto.spec)["data"]]
    assert "chosen (not on the frontier)" in names
    record = next(m.value for m in review.markdown if m.value.startswith("### Decision record"))
    assert "chosen (not on the frontier)" in record


def test_exports_of_one_run_are_told_apart(trained, fast_env):
    export_one(trained)
    trained.switch_page("views/export.py").run()
    trained.slider(key="w.export.threshold").set_value(0.4).run()
    trained.button(key="export.go").click().run()
    names = sorted(p.name for p in (fast_env / "exports").glob("*.zip"))
    assert len(names) == 2 and "-t0.50-none-" in names[0] + names[1] and "-t0.40-none-" in names[0] + names[1]
    review = new_session()
    review.switch_page("views/review.py").run()
    labels = review.selectbox(key=rv.W_EXPORT).options
    assert len(labels) == 2 and len(set(labels)) == 2
    assert any("threshold 0.40 · no calibration" in label for label in labels)
    assert any("threshold 0.50 · no calibration" in label for label in labels)


def test_a_method_has_one_colour_and_name_on_trade_offs_and_review_both_at_full_width(trained, fast_env):
    """The analyst's frontier and the committee's exported snapshot draw each method in the same
    colour under the same name (the registry's title), each chart across the page's width."""
    export_one(trained)
    trained.switch_page("views/tradeoffs.py").run()
    assert not any(col.get("plotly_chart") for col in trained.columns)
    live = json.loads(trained.get("plotly_chart")[0].proto.spec)
    at = new_session()
    at.switch_page("views/review.py").run()
    assert not at.exception, at.exception
    (chart,) = at.get("plotly_chart")
    assert not any(col.get("plotly_chart") for col in at.columns)
    snapshot = json.loads(chart.proto.spec)

    def lines(fig):
        return {t["name"]: t["line"]["color"] for t in fig["data"] if t.get("mode") == "lines+markers"}

    shared = lines(live).keys() & lines(snapshot).keys()
    assert {"Fairness-regularized network", "Group thresholds (post-processing reference) (needs the attribute)"} <= shared
    assert {n: lines(live)[n] for n in shared} == {n: lines(snapshot)[n] for n in shared}
    assert len({lines(live)[n] for n in shared}) == len(shared)
    # The committee's hover: method, eta, both axes with the intervals the sweep stored.
    reg = next(t for t in snapshot["data"] if t["name"] == "Fairness-regularized network")
    assert "eta=" in reg["hovertemplate"] and "Accuracy: %{customdata[3]}" in reg["hovertemplate"]
    assert all(c[2].count("[") == 1 and c[3].count("[") == 1 for c in reg["customdata"])


def test_signed_in_a_verdict_needs_a_sign_in_the_provider_still_vouches_for(fast_env, tmp_path_factory, monkeypatch):
    """Streamlit keeps a sign-in for 30 days; a sign-off or dissent is taken only while the
    provider's token holds. The decider on the Export page is the signed-in person."""
    import time

    from .test_auth import ISSUER, signed_in_session

    work = tmp_path_factory.mktemp("cli")
    assert cli(["sweep", "--dataset", "german", "--methods", "unconstrained", "--etas", "0",
                "--out", str(work / "sweep")]) == 0
    run = pd.read_csv(work / "sweep" / "results.csv")["run_id"].iloc[0]
    assert cli(["export", "--store", str(work / "sweep"), "--run", run, "--rationale", "r",
                "--decider", "CLI Committee", "--n-boot", "50", "--out", str(work / "bundle.zip")]) == 0
    ana = {"name": "Ana Reviewer", "email": "ana@example.org", "sub": "ana"}
    stale = signed_in_session(monkeypatch, "views/review.py", exp=time.time() - 60, **ana)
    assert any("expired at" in w for w in texts(stale.warning)) and not stale.radio
    fresh = signed_in_session(monkeypatch, "views/review.py", exp=time.time() + 3600, **ana)
    assert not fresh.text_input  # no name to type: the provider's is recorded
    fresh.radio[0].set_value("signoff")
    fresh.button(key="FormSubmitter:review.form-Add to the record").click().run()
    assert not fresh.exception, fresh.exception
    (signoff,) = AuditLog().entries(kind="signoff").itertuples()
    assert signoff.actor == "Ana Reviewer <ana@example.org>"
    assert (signoff.details["identity"]["issuer"], signoff.details["identity"]["subject"]) == (ISSUER, "ana")


def test_signed_in_the_decider_is_the_signed_in_person(trained, fast_env, monkeypatch):
    from .test_auth import AUTH, sign_in

    trained.secrets["auth"] = AUTH
    sign_in(monkeypatch, name="Dee Cider", sub="dee")
    trained.switch_page("views/tradeoffs.py").run()  # a model is selected there
    trained.switch_page("views/export.py").run()
    assert not trained.exception, trained.exception
    decider = trained.text_input(key="w.export.decider")
    assert decider.value == "Dee Cider" and decider.disabled


def test_signed_in_a_recorded_selection_is_the_signed_in_persons(trained, fast_env, monkeypatch):
    from .test_auth import AUTH, ISSUER, sign_in

    trained.secrets["auth"] = AUTH
    sign_in(monkeypatch, name="Sel Ector", email="sel@example.org", sub="sel")
    trained.switch_page("views/tradeoffs.py").run()
    assert not trained.exception, trained.exception
    assert ut.W_ACTOR not in [w.key for w in trained.text_input]  # no name to type
    trained.button(key="tradeoffs.record").click().run()
    (entry,) = AuditLog().entries(kind="selection").itertuples()
    assert entry.actor.startswith("Sel Ector")
    assert (entry.details["identity"]["issuer"], entry.details["identity"]["subject"]) == (ISSUER, "sel")


def test_the_export_chooser_shows_a_bidi_override_as_a_marker():
    """The chooser's options are plain text: a right-to-left override in the dataset's name
    reversed the threshold after it (audit 3, §4)."""
    label = rv.export_label({"id": 3, "ts": "2026-12-06T07:00:00", "dataset": "loans\u202e.csv",
                             "method": "regularized", "eta": 0.5, "threshold": 0.4, "actor": "A. \u202eevil"})
    assert "\u202e" not in label
    assert "loans<U+202E>.csv · " in label and "threshold 0.40" in label and label.endswith("by A. <U+202E>evil")


def test_an_older_record_is_shown_as_recorded_with_what_changed_and_a_missing_file_is_not_tampering(
        fast_env, tmp_path_factory, monkeypatch):
    """Upgrade audit, findings 1 and 4: a record an earlier fairkit computed says so above its
    card (its intervals may differ from this fairkit's for the same model); a bundle whose file
    is gone is named missing, with what to do, not "cannot be trusted"."""
    work = tmp_path_factory.mktemp("older")
    assert cli(["sweep", "--dataset", "german", "--methods", "unconstrained", "--etas", "0",
                "--out", str(work / "sweep"), "--no-png"]) == 0
    run = pd.read_csv(work / "sweep" / "results.csv")["run_id"].iloc[0]
    with monkeypatch.context() as patch:
        patch.setattr("fairkit.export.RESULTS_REVISION", 5)  # a record as revision 5 made it
        assert cli(["export", "--store", str(work / "sweep"), "--run", run, "--rationale", "Older.",
                    "--decider", "CLI Committee", "--n-boot", "50", "--out", str(work / "bundle.zip")]) == 0
    at = new_session()
    at.switch_page("views/review.py").run()
    assert not at.exception, at.exception
    assert any("Integrity verified" in s for s in texts(at.success)), (texts(at.error), texts(at.warning))
    (note,) = [i for i in texts(at.info) if "earlier fairkit" in i]
    assert "results revision 5" in note and "calibration errors (ECE)" in note and "Exporting the model again" in note
    (work / "bundle.zip").rename(work / "put-away.zip")
    at = new_session()
    at.switch_page("views/review.py").run()
    assert not at.exception, at.exception
    (error,) = texts(at.error)
    assert "file is missing" in error and "cannot be trusted" not in error and "No verdict can be recorded" in error


def test_the_chooser_can_show_only_decisions_waiting_for_a_review_and_long_lists_stay_short(trained, fast_env,
                                                                                          monkeypatch):
    """A long history audit: 512 exports in the chooser with nothing to find the unreviewed ones,
    and every selection ever recorded in one list (a canvas grid past 60 rows)."""
    export_one(trained)
    trained.switch_page("views/export.py").run()
    trained.slider(key="w.export.threshold").set_value(0.4).run()
    trained.button(key="export.go").click().run()
    trained.switch_page("views/tradeoffs.py").run()
    trained.button(key="tradeoffs.record").click().run()  # a second selection
    at = new_session()
    at.switch_page("views/review.py").run()
    both = at.selectbox(key=rv.W_EXPORT).options
    assert len(both) == 2
    # A sign-off on the newest export (the chooser's first).
    at.text_input[0].input("Prof. Reviewer")
    at.radio[0].set_value("signoff")
    at.button[0].click().run()
    assert not at.exception, at.exception
    at.toggle(key=rv.W_AWAITING).set_value(True).run()
    # The decision just signed off stays while it is the one chosen; the other waits.
    assert at.selectbox(key=rv.W_EXPORT).options == both
    at.selectbox(key=rv.W_EXPORT).select_index(1).run()
    assert at.selectbox(key=rv.W_EXPORT).options == [both[1]]
    # A comment is not a verdict: the decision still waits. A dissent is one, and the page stays
    # on the decision it was given on, with its confirmation (it moved to another decision, which
    # a second press would have signed off: review of session 41).
    for kind, text in (("comment", "Looks fine."), ("dissent", "Not convinced.")):
        at.text_input[0].input("Dr. Other")
        at.radio[0].set_value(kind)
        at.text_area[0].input(text)
        at.button[0].click().run()
        assert not at.exception, at.exception
        chooser = at.selectbox(key=rv.W_EXPORT)
        assert chooser.options[chooser.index] == both[1]
        assert any(f"Your {kind} was added" in m for m in texts(at.success)), texts(at.success)
    # The toggle is remembered across pages, like the page's other choices.
    at.switch_page("views/data.py").run()
    at.switch_page("views/review.py").run()
    assert at.toggle(key=rv.W_AWAITING).value is True
    assert at.selectbox(key=rv.W_EXPORT).options == [both[1]]
    at.toggle(key=rv.W_AWAITING).set_value(False).run()
    assert at.selectbox(key=rv.W_EXPORT).options == both
    # Nothing chosen: no decision waits any more.
    exports = rv.exports()
    assert rv.awaiting(exports) == [] and rv.awaiting(exports, exports[0]["id"]) == exports[:1]
    # Selections: the newest few in the page's text, the older ones in an expander.
    monkeypatch.setattr(rv, "SHOWN_SELECTIONS", 1)
    at.run()
    tables = {t.proto.alt: t.value for t in at.table}
    assert len(tables["Recorded selections"]) == 1 and len(tables["Older recorded selections"]) == 1
    assert any(e.label == "Older selections (1)" for e in at.expander)


def test_review_opens_on_the_export_just_made(trained, fast_env):
    """Export, Review, export another model, Review: the page kept the first one chosen, so the
    committee read (and could sign off) a decision other than the one the Export page had just
    "saved for the Review page" (state audit, session 44). It opens on the newest export of the
    session once; a choice made after that stays."""
    at = trained
    export_one(at, "first")
    at.switch_page("views/review.py").run()
    first = at.selectbox(key=rv.W_EXPORT).value
    at.switch_page("views/tradeoffs.py").run()
    at.select_slider(key=ut.W_ETA).set_value(0.0).run()
    at.switch_page("views/export.py").run()
    at.text_area(key="w.export.rationale").input("second").run()
    at.button(key="export.go").click().run()
    assert not at.exception, at.exception
    second = at.session_state["fk.export"]["entry"]
    assert second != first
    at.switch_page("views/review.py").run()
    assert at.selectbox(key=rv.W_EXPORT).value == second
    assert "second" in " ".join(m.value for m in at.markdown)
    # The reader's own choice is kept on later visits.
    at.selectbox(key=rv.W_EXPORT).set_value(first).run()
    at.switch_page("views/export.py").run()
    at.switch_page("views/review.py").run()
    assert at.selectbox(key=rv.W_EXPORT).value == first


def test_the_frontier_chart_says_when_the_exported_model_is_not_the_ringed_point():
    """Committee and numbers audits, session 53: the Review chart rang the chosen model at its
    uncalibrated point (0.091 / 0.611) under a card giving the calibrated 0.340 / 0.670."""
    from fairkit.record import frontier_chart_note

    rec = {"content": {"selected": {"threshold": 0.5, "calibration": None}}}
    assert frontier_chart_note(rec) is None
    rec["content"]["selected"].update(threshold=0.4, calibration={"method": "platt", "grouping": ["race"]})
    rec["content"]["at_frontier_threshold"] = {"threshold": 0.5, "calibrated": True, "values": {}, "chosen": {}}
    note = frontier_chart_note(rec)
    assert note.startswith("The chart draws each model as the frontier compared it (uncalibrated, at the threshold 0.50)")
    assert "As exported (calibrated (platt per group of race) and at the threshold 0.40)" in note
