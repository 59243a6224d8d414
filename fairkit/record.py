"""The decision record as a document: one outline, rendered as Markdown, HTML and PDF.

:func:`record_blocks` turns a decision record (``decision_record.json``, see
:func:`fairkit.export.build_record`) into an outline of headings, paragraphs, key-value cards,
tables and lists, in the order a committee reads it: the headline card first, then the numbers
(gaps with intervals, the disparity audit, rates and counts by group), then what was compared,
and the data's group sizes last. :func:`render_markdown`, :func:`render_html` and
:func:`render_pdf` only serialise that outline, so the bundle's ``decision_record.md``, the
pages and the printable copies say the same thing in the same words.

Every label comes from :data:`fairkit.metrics.METRIC_LABELS`, and every shown value through
:func:`fairkit.metrics.metric_value` (the disparate impact ratio is shown as 1 - ratio, as on
the Trade-offs page). Text from users and data (answers, column and group names) is escaped by
each renderer for its format: :func:`escape_markdown` for Markdown (the bundle's
``decision_record.md`` and the pages), :func:`html.escape` for HTML; the PDF holds it as plain
text. All three first show invisible controls and format characters (a right-to-left override)
as markers, :func:`fairkit.data.visible_text`. The record's JSON keeps the text as it was written.

Records written before a section existed (the disparity audit, the chosen run's place on the
frontier, the counts) are rendered without that section.
"""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path

import numpy as np

from .data import positive_labels, visible_text
from .methods import METHODS, scores_rank
from .store import RESULTS_REVISION, REVISIONS, changes_since
from .metrics import HEADLINE_GAPS, METRIC_LABELS, NO_RANKING, OF_SCORES, SWEEP_THRESHOLD, TOO_FEW, chance_level, too_few_rates, in_sentence, least_fair_grouping, metric_value

#: Status of the chosen run in the record's frontier table.
CHOSEN = "chosen"
CHOSEN_OFF_FRONT = "chosen (not on the frontier)"
#: Unicode TrueType fonts tried for the PDF, in order (Debian's fonts-dejavu-core, then the
#: Liberation fonts Chromium brings); without one the PDF uses a core font, Latin-1 only.
PDF_FONTS = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
     "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"),
)
_AUDIT_LABELS = {"selection_rate": "Selection rate", "tpr": "TPR", "fpr": "FPR", "precision": "Precision"}

# Characters that change inline Markdown anywhere: \ escapes, ` code, * _ ~ emphasis, [ ] links,
# < > HTML and autolinks, | tables, $ maths (GitHub, Streamlit), and a colon that could open an
# emoji shortcode or Streamlit's :color[...] and :material/icon: directives (one before a space
# opens nothing, so "Label: value" stays as written) ...
_MD_INLINE = re.compile(r"([\\`*\[\]<>|~$]|:(?!\s))")
# An underscore is escaped unless its run sits inside a word ("age_group"): there CommonMark lets it
# neither open nor close emphasis, and the backslash only reached what screen readers say (a widget
# label's accessible name is its raw text: "age backslash group"; accessibility audit, session 49).
_MD_UNDERSCORES = re.compile(r"_+")
_WORD_CHAR = re.compile(r"[^\W_]")


def _underscores(m: re.Match) -> str:
    s, a, b = m.string, m.start(), m.end()
    inside = 0 < a and b < len(s) and _WORD_CHAR.match(s[a - 1]) and _WORD_CHAR.match(s[b])
    return m.group() if inside else "\\_" * (b - a)
# ... and ones that only matter at the start of a line: a heading (a run of # then a space), a
# list bullet (+ or - then a space; * is escaped above), a setext underline or thematic break (a
# line of = or - only) or an ordered item (1. 1)). "+0.5" and "-0.5" start nothing: left as read.
_MD_LEADING = re.compile(r"^(#+(?=\s|$)|[+\-=](?=\s|$)|[=\-](?=[=\-\s]*$))")
_MD_ORDERED = re.compile(r"^(\d+)([.)])(?=\s|$)")
_MD_ENTITY = re.compile(r"&(?=#?\w+;)")
# GitHub-flavoured Markdown turns bare "http(s)://...", "www. ..." and "name@host.tld" into links
# after escapes are resolved, so no backslash stops it: an invisible word joiner after the
# scheme, after "www" and after "@" breaks each pattern and leaves the text as it reads.
_AUTOLINK = re.compile(r"(?i)(?<=https:)(?=//)|(?<=http:)(?=//)|(?<=www)(?=\.)|(?<=@)")
WORD_JOINER = "\u2060"


# --------------------------------------------------------------------------- formatting

def escape_markdown(text) -> str:
    """``text`` as Markdown that shows it literally, on one line (whitespace runs, newlines
    included, become one space).

    Invisible controls and format characters are shown as markers (:func:`fairkit.data.visible_text`):
    a right-to-left override in a name would otherwise reverse the figures after it. No part of it
    can become markup: inline syntax (emphasis, code, links, images, HTML, tables,
    maths, entities, emoji and Streamlit directives) is backslash-escaped, and so is what would
    start a block where the text starts a line (heading, setext underline, list, quote). A bare
    URL or e-mail address stays text, not a link (an invisible word joiner breaks it).

    The one Markdown escaper: the bundle's ``decision_record.md`` and the pages' record use it.

    Parameters
    ----------
    text : object
        Converted with ``str``.

    Returns
    -------
    str

    Examples
    --------
    >>> escape_markdown("income_>50K")
    'income\\\\_\\\\>50K'
    >>> escape_markdown("age_group")  # inside a word an underscore starts no emphasis
    'age_group'
    >>> escape_markdown("## Approved")
    '\\\\## Approved'
    """
    s = _AUTOLINK.sub(WORD_JOINER, visible_text(" ".join(str(text).split())))
    s = _MD_INLINE.sub(r"\\\1", s)
    s = _MD_UNDERSCORES.sub(_underscores, s)
    s = _MD_ENTITY.sub(r"\\&", s)
    s = _MD_ORDERED.sub(r"\1\\\2", s)
    return _MD_LEADING.sub(r"\\\1", s)


def fmt(v, digits: int = 3, *, signed: bool = False) -> str:
    """A number for people: ``digits`` decimals, "n/a" for a missing or non-finite value.

    Every number a record or a page shows goes through here, so one rule holds everywhere: a
    value that rounds to zero at ``digits`` decimals is written "0.000", with no sign (never
    "-0.000" for a -0.0 or a tiny negative value, never "+0.000" for a change that shows as
    none), for a value and its interval ends alike.

    Parameters
    ----------
    v : float, int, bool or None
    digits : int, default=3
    signed : bool, default=False
        Write the sign of a non-zero number ("+0.012", "-0.004"): a change.

    Returns
    -------
    str
    """
    if v is None or (isinstance(v, (float, np.floating)) and not math.isfinite(v)):
        return "n/a"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)) or (signed and isinstance(v, (int, np.integer))):
        text = f"{float(v):{'+' if signed else ''}.{digits}f}"
        return f"{0.0:.{digits}f}" if float(text) == 0 else text
    return str(v)




def fmt_threshold(t) -> str:
    """A decision threshold for people: two decimals ("0.50"), more when two would round it (an
    export at 0.6904 read "threshold 0.69" beside counts at 0.6904: oracle audit, session 44)."""
    t = float(t)
    text = f"{t:.2f}"
    return text if float(text) == t else f"{t:.6g}"


def fmt_interval(v, low=None, high=None, digits: int = 3, *, signed: bool = False) -> str:
    """"value [low, high]" through :func:`fmt` (its zero rule on each), the value alone when
    either end is missing or non-finite."""
    if low is None or high is None or not (math.isfinite(float(low)) and math.isfinite(float(high))):
        return fmt(v, digits, signed=signed)
    return f"{fmt(v, digits, signed=signed)} [{fmt(low, digits, signed=signed)}, {fmt(high, digits, signed=signed)}]"


def fmt_eta(eta) -> str:
    """An eta for people, the one way every eta in a record is written: "n/a" when missing.

    Python's ``g`` format: up to six significant digits, in exponent form below 1e-4, as the
    dashboard's pages write an eta. Every eta a sweep places (four significant digits,
    :func:`fairkit.methods.eta_grid`) is shown exactly, and a small non-zero eta is never
    rounded to 0 (4e-05, not 0.0000, which reads as the unconstrained model).

    Parameters
    ----------
    eta : float or None

    Returns
    -------
    str
    """
    if eta is None:
        return "n/a"
    eta = float(eta)
    return f"{eta:g}" if math.isfinite(eta) else "n/a"


def with_interval(values, key: str, prefix: str = "") -> str:
    """``key`` of ``values`` as "value [low, high]" (:func:`fairkit.metrics.metric_value`)."""
    try:
        v, lo, hi = metric_value(values, key, prefix)
    except KeyError:
        return "n/a"
    return fmt_interval(v, lo, hi)


def group_rate_text(row, metric: str) -> str:
    """One group's rate as every surface writes it: "value [low, high]", and for a rate the
    table flags as too few to estimate (``too_few``), "value (too few to estimate)" with no
    interval (one over 2 positives would read as certainty). The record printed such a TPR as a
    bare "0.000", a measured zero beside the Groups page's flag (numbers audit, session 49).

    Parameters
    ----------
    row : mapping or Series
        A row of :attr:`fairkit.metrics.FairnessReport.by_group` (or the record's copy).
    metric : str
    """
    value = row.get(metric)
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    if metric in too_few_rates(row.get("too_few")):
        return f"{fmt(float(value))} ({TOO_FEW})"
    return with_interval(row, metric)


def method_label(method: str) -> str:
    """The registry's title of a method, or its name when it is not registered here."""
    m = METHODS.get(method)
    return m.label if m is not None else str(method)


def _proxy_words(c: dict, who: str = "it") -> list:
    """What the record says where it says whether the model reads the sensitive attribute: the
    inputs that determine one exactly (``content["sensitive_proxies"]``)."""
    proxies = c.get("sensitive_proxies") or {}
    if not proxies:
        return []
    told = "; ".join(f"{k}, which determines {' and '.join(v)} exactly" for k, v in proxies.items())
    return [f", but {who} reads {told} (see Known limitations)"]


def calibration_text(calibration) -> str:
    """A record's ``calibration`` field in words."""
    if not calibration:
        return "none"
    grouping = " & ".join(map(str, calibration.get("grouping") or []))
    method = str(calibration.get("method", "?"))
    return f"{method} per group of {grouping}" if grouping else f"{method} (one map for everyone)"


def calibration_fallbacks_text(calibration, most: int | None = None) -> str:
    """The groups of a record's calibration without a map of their own, what each uses and why
    ("" when every group has its own); with more than ``most`` of them, their count instead
    (the record's headline: 29 had pushed a PDF record's headline figures to its third page,
    new-user audit, session 52; "The selected model" lists them)."""
    fallbacks = (calibration or {}).get("fallbacks") or {}
    kept = (calibration or {}).get("global_map")
    if most is not None and len(fallbacks) > most:
        listed = [f"{len(fallbacks)} groups have no calibration map of their own and use another group's "
                  "(listed under \"The selected model\")."]
    else:
        listed = (["Groups without a calibration map of their own: "
                   + "; ".join(f"{g} uses {why}" for g, why in fallbacks.items()) + "."] if fallbacks else [])
    return " ".join(([f"The map of all rows: {kept}."] if kept else []) + listed)


#: The most calibration fallbacks the record's headline lists one by one.
HEADLINE_FALLBACKS = 3


def decision_label(selected: dict) -> str:
    """What tells two exports of one run apart: method, eta, threshold and calibration."""
    return (f"{method_label(selected.get('method', '?'))} eta {fmt_eta(selected.get('eta', 0))} · "
            f"threshold {fmt_threshold(selected.get('threshold', SWEEP_THRESHOLD))} · "
            + (f"calibration {calibration_text(cal)}" if (cal := selected.get("calibration")) else "no calibration"))


def _small_in_gaps(by_group: list, attribute) -> list:
    """A warning run for a headline gap whose grouping compares a group flagged small (kept in
    its gaps when leaving the small ones out would leave fewer than two groups,
    :func:`fairkit.stats.gap_groups`): the figure rests on a few rows."""
    small = [r for r in by_group if r.get("attribute") == attribute and r.get("small") and r.get("in_gaps")]
    if not small:
        return []
    named = ", ".join(f"{r['group']} ({fmt(r['n'])} rows)" for r in small)
    return [f" (compares {named}, flagged small below: a figure resting on few rows)"]


def _headline_row(gaps: list, key: str) -> dict:
    """The gaps row the headline reads ``key`` from: the grouping where it is least fair
    (:func:`fairkit.metrics.least_fair_grouping`, as the sweep tables and the frontier read it)."""
    if not gaps:
        return {}
    at = least_fair_grouping(gaps, key)
    return gaps[-1 if at is None else at]


def results_revision(rec: dict) -> int | None:
    """The results revision a record's figures were computed under (``store.REVISIONS``), or
    None for a record made before records carried it (revision 6 or earlier)."""
    value = rec.get("content", {}).get("results_revision")
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def revision_note(rec: dict) -> str | None:
    """What a reader of an older record should know: its figures were computed under earlier
    rules, and which rules have changed since (None for a record of this revision); of a newer
    record, that rules this fairkit does not know may have computed it.

    The record is shown as it was made (it may be signed, and a committee may have signed off on
    it); the note says why the same model measured by this fairkit can show other intervals.
    """
    made = results_revision(rec)
    if made is not None and made > RESULTS_REVISION:
        # Read back by an older fairkit (downgrade audit, session 50: said nothing of it).
        return (f"This record was computed by a newer fairkit (results revision {made}; this one knows revisions "
                f"up to {RESULTS_REVISION}). Its figures are shown as recorded; rules this fairkit does not know "
                "may have computed them: read it with a fairkit of that revision or later.")
    if made is not None and made >= RESULTS_REVISION:
        return None
    since = changes_since(made)
    when = (f"results revision {made}" if made is not None
            else f"revision {RESULTS_REVISION - 1} or earlier: records did not name it then")
    return (f"This record was computed by an earlier fairkit ({when}; this one computes results revision "
            f"{RESULTS_REVISION}). Its figures are shown as recorded; the same model measured here may "
            f"show other intervals. Changed since{' (possibly)' if made is None else ''}: "
            + "; ".join(since) + ". Exporting the model again from its sweep's folder recomputes them, where "
            "this fairkit computes that sweep's split and figures as the earlier one did; where it does not, "
            "the export says so, and the sweep must run again and its model be reviewed anew.")


def _older_headline(rec: dict, gaps: list, key: str) -> list:
    """For a record without a results revision (it may predate revision 2), the last grouping's
    figure where the headline reads another: an older fairkit headlined the last grouping (the
    attributes' intersection), and such a record's frontier and selections still read it."""
    if results_revision(rec) is not None or len(gaps) < 2 or least_fair_grouping(gaps, key) in (None, len(gaps) - 1):
        return []
    last = gaps[-1]
    return [f" (the last grouping, {last.get('attribute', '')}, reads {with_interval(last, key)}; records made "
            "before results revision 2 headlined that grouping)"]


# --------------------------------------------------------------------------- the outline

def _b(text) -> tuple:
    return ("b", str(text))


def headline(rec: dict, *, reviews: str | dict | None = None) -> list[tuple[str, list]]:
    """The headline card: ``[(label, runs), ...]`` (runs: text, or ``("b"|"code", text)``).

    Parameters
    ----------
    rec : dict
        A decision record.
    reviews : str or dict, optional
        The sign-off status to show (it lives in the audit log, not in the record), e.g.
        "2 sign-offs, 1 dissent", or the review's evidence (:func:`review_blocks`), whose
        ``status`` it shows.
    """
    c = rec["content"]
    sel = c["selected"]
    test = c["metrics"]["test"]
    threshold = float(sel["threshold"])
    at = float(c.get("frontier_threshold", SWEEP_THRESHOLD))
    fallbacks = calibration_fallbacks_text(sel.get("calibration"), most=HEADLINE_FALLBACKS)
    card = [
        ("Model", [_b(method_label(sel["method"])), f" ({sel['method']}), eta ", _b(fmt_eta(sel["eta"])),
                   f", seed {sel['seed']}"]
         # A fairness method at eta 0 asks for no fairness, which its name does not say (new-user
         # audit, session 48: read as fairness-trained).
         + ([" (at eta 0 the method asks for no fairness)"]
            if float(sel["eta"]) == 0 and sel["method"] in METHODS and METHODS[sel["method"]].sweeps_eta else [])
         + ([f"; this search trial's settings: {search_params_text(sel['search_params'])}"]
            if sel.get("search_params") else [])),
        ("Decision threshold", [_b(fmt_threshold(threshold))]
         + ([f" (the frontier was measured at {fmt_threshold(at)})"] if not math.isclose(threshold, at) else [])),
        ("Calibration", [calibration_text(sel.get("calibration"))] + ([f". {fallbacks}"] if fallbacks else [])),
        ("Needs the sensitive attribute to predict",
         ([_b("yes"), f": {'; '.join(sel.get('sensitive_uses') or [])}"] if sel["needs_sensitive_at_predict"]
          else [_b("no")]) + _proxy_words(c)),
        ("Accuracy (test)", [with_interval(test["overall"], "accuracy")]),
    ]
    spread = c.get("seed_spread")
    if spread:
        # Training noise, which the test intervals above do not hold: the setting's other seeds.
        parts = [f"{in_sentence(METRIC_LABELS.get(v['metric'], v['metric']))} {fmt(v['low'])} to {fmt(v['high'])} "
                 f"(mean {fmt(v['mean'])})" for v in (spread["performance"], spread["unfairness"])]
        card.append((f"Across this setting's {int(spread['n_seeds'])} seeds (test)", ["; ".join(parts)]))
    definition = str(rec.get("fairness_definition", ""))
    ranks = ranks_of(sel)
    for key in HEADLINE_GAPS:
        if key in OF_SCORES and not ranks:
            card.append((METRIC_LABELS[key], [NO_RANKING]))
            continue
        mark = " (the chosen definition)" if key == f"{definition}_difference" else ""
        row = _headline_row(test["gaps"], key)
        card.append((f"{METRIC_LABELS[key]} ({row.get('attribute', '')}, test){mark}",
                     [with_interval(row, key)] + _small_in_gaps(test.get("by_group") or [], row.get("attribute"))
                     + _older_headline(rec, test["gaps"], key)))
    card += [("Decided by", [_b(rec["decider"])]), ("Rationale", [str(rec["rationale"])])]
    if reviews is not None:
        card.append(("Sign-off status", [_b(reviews["status"] if isinstance(reviews, dict) else reviews)]))
    return card


def frontier_chart_note(rec: dict) -> str | None:
    """The caption under a frontier chart drawn from a record's frontier table when the model
    as exported is not the point ringed there (the record's ``at_frontier_threshold``: it ships
    calibrated, or at another threshold), else None. The chart draws every model as the frontier
    compared it; the Review page rang 0.091 / 0.611 under a card giving 0.340 / 0.670 with
    nothing said (committee and numbers audits, session 53).

    Parameters
    ----------
    rec : dict
        A decision record.

    Returns
    -------
    str or None
    """
    c = rec["content"]
    at = c.get("at_frontier_threshold")
    if not at:
        return None
    sel = c["selected"]
    t0, t1 = float(at["threshold"]), float(sel["threshold"])
    changes = ([f"calibrated ({calibration_text(sel.get('calibration'))})"] if at.get("calibrated") else []) + (
        [f"at the threshold {fmt_threshold(t1)}"] if not math.isclose(t0, t1) else [])
    return (f"The chart draws each model as the frontier compared it (uncalibrated, at the threshold "
            f"{fmt_threshold(t0)}), and rings the chosen model there. As exported ({' and '.join(changes)}) "
            "its figures are the card's above; the record's \"Effect of the decision threshold\" table gives both.")


def review_blocks(review: dict) -> list:
    """A record copy's section on its review, from the audit log as it stood when the copy was made.

    A downloaded record gave the tally alone: no reviewer, no dissent's reason, no time and no
    bundle hash, so a printed copy could not be tied to the bundle it approves, nor its count
    checked; and the log's latest verdicts can be removed without the log showing it (committee
    audit, session 53). The log's head, kept with the copy, makes that removal detectable
    (``fairkit audit verify --head``).

    Parameters
    ----------
    review : dict
        ``status`` (the tally's text), ``manifest_sha256`` (the bundle reviewed), ``taken``
        (when the log was read, ISO 8601), ``head`` ("N:HASH", the newest entry the check read),
        ``failed`` (why the log failed its check, or None) and ``verdicts`` (``columns`` and
        ``rows`` of the page's table of verdicts, oldest first).

    Returns
    -------
    list of tuple
        Blocks of :func:`record_blocks`' outline.
    """
    blocks = [("h", 2, "Review, as the audit log stood when this copy was made"),
              ("p", [f"Read {review['taken']} for the bundle whose manifest SHA-256 is ",
                     ("code", str(review["manifest_sha256"])), ". Sign-off status: ", _b(review["status"]), "."])]
    if review.get("failed"):
        blocks.append(("p", [_b("The audit log failed its check when this copy was made"), f": {review['failed']} "
                             "No head is given (a head of a log that fails its check proves nothing), and no "
                             "sign-off is counted."]))
    elif review.get("head"):
        blocks.append(("p", ["The audit log's newest entry then was ", ("code", str(review["head"])),
                             " (entry:hash). Keep this copy: ", ("code", f"fairkit audit verify --head {review['head']}"),
                             " fails if any entry up to it, a verdict below included, was later removed or changed, "
                             "which the log alone cannot show of its latest entries."]))
    rows = (review.get("verdicts") or {}).get("rows") or []
    if rows:
        blocks.append(("table", list(review["verdicts"]["columns"]), [[str(v) for v in r] for r in rows]))
    else:
        blocks.append(("p", ["No comment, sign-off or dissent had been recorded."]))
    return blocks


def _gap_table(gaps: list, ranks: bool = True) -> tuple:
    attrs = [g["attribute"] for g in gaps]
    rows = [[METRIC_LABELS[k]] + [NO_RANKING if k in OF_SCORES and not ranks else with_interval(g, k) for g in gaps]
            for k in HEADLINE_GAPS]
    return ("table", ["Gap (lower is fairer)", *attrs], rows)


def _audit_blocks(audit: dict | None) -> list:
    if not audit or not audit.get("rows"):
        return []
    low, high = audit["band"]
    metrics = audit["metrics"]
    rows = []
    for r in audit["rows"]:
        cells = []
        for m in metrics:
            verdict = r.get(f"{m}_verdict", "n/a")
            ratio = r.get(f"{m}_ratio")
            if verdict in ("pass", "fail"):
                cells.append(f"{_ratio_text(ratio, low, high, verdict)} {verdict if verdict == 'pass' else 'FAIL'}")
            else:
                cells.append(verdict)
        rows.append([r["attribute"], r["group"], fmt(r["n"]), r["reference"], *cells])
    fails = sum(str(r.get(f"{m}_verdict")) == "fail" for r in audit["rows"] for m in metrics)
    return [
        ("h", 2, "Disparity audit (test)"),
        ("p", [f"Each group's rate divided by its reference group's rate (the largest group unless "
               f"another was chosen). A ratio from {low:g} to {high:g} passes (Aequitas' default band). "
               f"{fails} ratio(s) fail. 'too few rows': the group is below the small-group size, as the gaps "
               "leave it out; 'n/a': a rate is undefined or too thin to estimate."]),
        ("table", ["Attribute", "Group", "n", "Reference", *(f"{_AUDIT_LABELS.get(m, m)} ratio" for m in metrics)],
         rows),
    ]


def fmt_deciding(value, digits: int, holds, wanted: bool | None = None) -> str:
    """``value`` to ``digits`` decimals, or to as many more (up to 9) as it takes for the figure
    shown to give ``holds`` the answer ``wanted`` (default: the exact value's): a verdict printed
    beside a number must read from it ("0.80 FAIL" under "a ratio from 0.8 to 1.25 passes" for
    0.7979; "0.037 (above the tolerance 0.037)" for 0.03725: number audit, session 45)."""
    if value is None or not np.isfinite(float(value)):
        return fmt(value, digits)
    wanted = bool(holds(float(value))) if wanted is None else wanted
    for d in range(digits, 10):
        text = fmt(value, d)
        if bool(holds(float(text))) == wanted:
            return text
    return repr(float(value))


def fmt_metric(value, key: str, ranks: bool) -> str:
    """A metric's figure (:func:`fmt`), or :data:`fairkit.metrics.NO_RANKING` for a metric of
    scores (``OF_SCORES``) of a model whose scores are its decisions: the one rule of the
    card, the tables and the pages (the threshold effect's tables wrote the ECE of decisions,
    0.375, where the card said n/a: numbers audit, session 53).

    Parameters
    ----------
    value : float or None
    key : str
        The metric's key.
    ranks : bool
        Whether the model's scores rank rows (:func:`ranks_of`).

    Returns
    -------
    str
    """
    return NO_RANKING if key in OF_SCORES and not ranks else fmt(value)


def fmt_pair(before, after, digits: int = 3) -> tuple[str, str]:
    """Two figures shown as a change ("from X to Y"), to as many more decimals (up to 9) as it
    takes for the shown pair to order as the values do: "made it worse: from 0.050 to 0.050"
    was printed for 0.05004 and 0.05006 (one-implementation audit, session 53).

    Parameters
    ----------
    before, after : float or None
    digits : int, default=3
        The fewest decimals.

    Returns
    -------
    tuple of str
        Both figures (:func:`fmt`), "n/a" for a missing one.
    """
    if before is None or after is None or not (np.isfinite(float(before)) and np.isfinite(float(after))):
        return fmt(before, digits), fmt(after, digits)
    order = np.sign(float(after) - float(before))
    for d in range(digits, 10):
        b, a = fmt(before, d), fmt(after, d)
        if np.sign(float(a) - float(b)) == order:
            return b, a
    return repr(float(before)), repr(float(after))


def _ratio_text(ratio, low: float, high: float, verdict: str) -> str:
    """An audit ratio written against the pass band its verdict reads (:func:`fmt_deciding`)."""
    return fmt_deciding(ratio, 2, lambda r: low <= r <= high, wanted=verdict == "pass")


def _chance_blocks(ov: dict) -> list:
    """What deciding alike for everyone scores on the test rows (records made before the base
    rate was recorded have none)."""
    if ov.get("base_rate") is None:
        return []
    level = chance_level("accuracy", float(ov["base_rate"]))
    return [("p", [f"Giving everyone the majority decision would score accuracy {level:.3f} on these test rows "
                   f"({float(ov['base_rate']):.1%} positive), with no gap; the model's figures are to be read "
                   "against that."])]


def _frontier_blocks(c: dict) -> list:
    front = c.get("frontier") or []
    sweep = c["sweep"]
    etas = sweep["etas"]
    eta_text = ("; ".join(f"{m}: {', '.join(map(fmt_eta, g))}" for m, g in etas.items())
                if isinstance(etas, dict) else ", ".join(map(fmt_eta, etas)))
    searched = sweep.get("search_etas") or {}
    search_text = ("; ".join(f"{m}: {', '.join(map(fmt_eta, g))}" for m, g in searched.items()))
    blocks = [("h", 2, "What was compared"),
              ("p", [f"Methods: {', '.join(map(str, sweep['methods']))}. "
                     + (f"Etas: {eta_text}" if eta_text or not searched else "No sweep")
                     + ((" (the sweep's)" if eta_text else "")
                        + f"; an assistive search's trials, at settings of their own: {search_text}"
                        if searched else "")
                     + f". Seeds: {', '.join(map(str, sweep['seeds']))}. The frontier was chosen on validation "
                     "data; test figures are reported beside it."])]
    if not front:
        return blocks + [("p", ["(no frontier table)"])]
    axes = c.get("frontier_axes") or {}
    n_seeds = int(axes.get("seeds") or 1)
    if n_seeds > 1:
        blocks.append(("p", [f"Each frontier row is a setting (method and eta) at its mean over {n_seeds} seeds, "
                             "as the sweep and the dashboard compare them; the exported model is one seed's run of "
                             "its setting, whose own figures are given in this record."]))
    u = METRIC_LABELS.get(axes.get("unfairness"), "Unfairness")
    p = METRIC_LABELS.get(axes.get("performance"), "Performance")
    beaten = _beaten_by_another_method(front)
    blocks.append(("p", ["The table lists each method's own front: its models no other model of the same method "
                         "beats on validation. A row another method's model beats on validation (no worse on either "
                         "axis and better on one, by however little: two figures shown alike may differ in a later "
                         "digit) says so in its status." + (f" {sum(map(bool, beaten))} of {len(front)} rows are." if any(beaten)
                                             else " None is.")]))
    rows = []
    for f, by in zip(front, beaten):
        status = ""
        if f.get("selected"):
            status = CHOSEN if f.get("on_front", True) else CHOSEN_OFF_FRONT
        status = "; ".join(filter(None, [status, _search_status(f), by]))
        seed = f"mean of {int(f['n_seeds'])}" if (f.get("n_seeds") or 1) > 1 else fmt(f.get("seed"))
        rows.append([method_label(f["method"]), fmt_eta(f.get("eta")), seed,
                     fmt(f.get("performance_val")), fmt(f.get("unfairness_val")),
                     fmt(f.get("performance_test")), fmt(f.get("unfairness_test")), status])
    return blocks + [("table", ["Method", "eta", "Seed", f"{p} (val)", f"{u} (val)", f"{p} (test)",
                                f"{u} (test)", "Status"], rows)] + _search_blocks(front)


def _beaten_by_another_method(front: list) -> list:
    """Per frontier row, "beaten on validation by <method> at eta <e>" when a row of another
    method is no worse on both validation axes and better on one (its best-performing such row),
    else "". The fronts are per method (:func:`fairkit.frontier.sweep_front`): without this the
    record listed a chosen model as on the frontier beside another method's that beat it on both
    axes (oracle audit, session 44)."""
    if not front:
        return []
    p = np.array([f.get("performance_val") for f in front], dtype=float)  # None: NaN
    u = np.array([f.get("unfairness_val") for f in front], dtype=float)
    method = np.array([str(f["method"]) for f in front], dtype=object)
    # Rows of as many seeds only: a chosen run off a front of seed means is one seed's figures,
    # and was said "beaten" by another setting's mean (numbers audit, session 53).
    seeds = np.array([f.get("n_seeds") or 1 for f in front], dtype=float)
    # beats[j, i]: row j beats row i. NaN compares False: a row without figures neither beats nor is beaten.
    no_worse = (p[:, None] >= p) & (u[:, None] <= u)
    beats = (no_worse & ((p[:, None] > p) | (u[:, None] < u)) & (method[:, None] != method)
             & (seeds[:, None] == seeds))
    out = []
    for i in range(len(front)):
        by = np.flatnonzero(beats[:, i])
        if len(by):
            best = front[by[np.argmax(p[by])]]
            out.append(f"beaten on validation by {method_label(best['method'])} at eta {fmt_eta(best.get('eta'))}")
        else:
            out.append("")
    return out


def ranks_of(selected: dict) -> bool:
    """Whether an exported model's scores rank rows, as its record was built: its method's do
    (:func:`scores_rank`), or a group calibrator maps its decisions to each group's calibrated
    rate, a probability whose calibration and ranking can be measured (export audit, session 51:
    a calibrated group-threshold model's record showed no ECE). Records from before 0.3.3 do not
    say (``ranks``) and were built by the method alone.

    Parameters
    ----------
    selected : dict
        A record's ``selected`` (or a bundle's ``decision``).
    """
    if "ranks" in selected:
        return bool(selected["ranks"])
    return scores_rank(selected["method"])


def search_params_text(params) -> str:
    """A search trial's parameters (``search_params``, JSON text) as "name value, ..."."""
    try:
        values = json.loads(params) if isinstance(params, str) else dict(params or {})
    except (TypeError, ValueError):
        return str(params)
    if not isinstance(values, dict):
        return str(params)

    def said(v) -> str:
        # Nested settings (a post-processor's base model) in the same words, not a Python dict.
        if isinstance(v, dict):
            return "(" + ", ".join(f"{k} {said(x)}" for k, x in sorted(v.items())) + ")"
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k} {said(v)}" for k, v in sorted(values.items()))


def _search_status(f: dict) -> str:
    """A frontier row's note when an assistive search proposed it (fairkit.search)."""
    if f.get("source") != "search":
        return ""
    trial = f.get("search_trial")
    unstable = "; unstable across re-splits" if f.get("unstable") is True else ""
    return f"proposed by search (trial {int(float(trial))}){unstable}" if trial is not None else \
        f"proposed by search{unstable}"


def _search_blocks(front: list) -> list:
    """What the search proposed, its budget and objective, and that people chose (none without search rows)."""
    found = [f for f in front if f.get("source") == "search"]
    if not found:
        return []
    budget = next((f["search_budget"] for f in found if f.get("search_budget")), "not recorded")
    objective = next((f["search_objective"] for f in found if f.get("search_objective")), "not recorded")
    chosen = any(f.get("selected") for f in found)
    return [("p", [f"{len(found)} of these models {'was' if len(found) == 1 else 'were'} proposed by an "
                   f"assistive search (budget {budget}; "
                   f"objective: {objective}). The search widened the set of candidates; it chose none of them. "
                   + ("The chosen model is one of its proposals: a person chose it from the candidates shown."
                      if chosen else "The chosen model came from the sweep.")])]


def record_blocks(rec: dict, *, reviews: str | dict | None = None) -> list:
    """The decision record's outline, in reading order.

    Parameters
    ----------
    rec : dict
        A decision record (``decision_record.json``).
    reviews : str or dict, optional
        The sign-off status for the headline card (see :func:`headline`); a dict (the review's
        evidence) adds its section at the end (:func:`review_blocks`).

    Returns
    -------
    list of tuple
        ``("h", level, text)``, ``("p", runs)``, ``("kv", [(label, runs)])``,
        ``("table", header, rows)`` or ``("ul", [text, ...])``; runs are text or
        ``("b", text)`` / ``("code", text)``.
    """
    c = rec["content"]
    sel = c["selected"]
    test = c["metrics"]["test"]
    ov = test["overall"]
    spec = c["spec"]
    ds = c["dataset"]
    ranks = ranks_of(sel)
    blocks = [
        ("h", 1, f"Decision record: {ds['name']}"),
        ("p", [f"Created {rec['created']} by fairkit {c['versions']['fairkit']}. Decided by ", _b(rec["decider"]),
               ". Exported as: " + decision_label(sel) + "."]),
        ("kv", headline(rec, reviews=reviews)),
        ("h", 2, "Performance and gaps (test, 95% intervals)"),
        ("table", ["Metric", "Test"],
         [[METRIC_LABELS[k], NO_RANKING if k in OF_SCORES and not ranks else with_interval(ov, k)]
          for k in ("accuracy", "balanced_accuracy", "roc_auc", "brier", "selection_rate", "base_rate") if k in ov]),
        *_chance_blocks(ov),
        _gap_table(test["gaps"], ranks),
    ]
    at = c.get("at_frontier_threshold")
    if at:
        # Records before the calibrated flag compared thresholds only (of calibrated scores).
        calibrated = bool(at.get("calibrated"))
        t0, t1 = float(at["threshold"]), float(sel["threshold"])
        shipped = f"At {fmt_threshold(t1)}" + (", calibrated" if calibrated else "")
        said = (f"The frontier was measured at threshold {fmt_threshold(t0)} without calibration; this model ships at "
                f"{fmt_threshold(t1)} with {calibration_text(sel.get('calibration'))}. Test figures of both:" if calibrated
                else f"The frontier was measured at threshold {fmt_threshold(t0)}; this model ships at {fmt_threshold(t1)}. "
                     "Test figures at both:")
        blocks += [("h", 2, "Effect of the decision threshold" + (" and calibration" if calibrated else "")),
                   ("p", [said]),
                   ("table", ["Metric", f"At {fmt_threshold(at['threshold'])} (the frontier's)", shipped],
                    [[METRIC_LABELS[k], fmt_metric(at["values"].get(k), k, scores_rank(sel["method"])),
                      fmt_metric(v, k, ranks)] for k, v in at["chosen"].items()])]
    blocks += _audit_blocks(c.get("audit"))
    grp = [[r["attribute"], r["group"], fmt(r["n"]), *(group_rate_text(r, m) for m in ("selection_rate", "tpr", "fpr")),
            group_rate_text(r, "ece") if ranks else "n/a", "small" if r["small"] else ""]
           for r in test["by_group"]]
    blocks += [("h", 2, "Rates by group (test)"),
               ("table", ["Attribute", "Group", "n", METRIC_LABELS["selection_rate"], METRIC_LABELS["tpr"],
                          METRIC_LABELS["fpr"], METRIC_LABELS["ece"], "Note"], grp)]
    if not ranks:
        blocks.append(("p", [f"{METRIC_LABELS['ece']}, its largest group value and gap between groups, and "
                             f"{METRIC_LABELS['brier']}: {NO_RANKING}. This model's scores are its decisions, so "
                             "they would only restate its error rate."]))
    if c.get("confusion_test"):
        blocks += [("h", 2, f"Decisions by group (test, counts at threshold {fmt_threshold(sel['threshold'])})"),
                   ("table", ["Attribute", "Group", "n", "True positives", "False positives", "False negatives",
                              "True negatives"],
                    [[r["attribute"], r["group"], fmt(r["n"]), fmt(r["tp"]), fmt(r["fp"]), fmt(r["fn"]),
                      fmt(r["tn"])] for r in c["confusion_test"]])]
    if test["notes"]:
        blocks += [("p", [_b("Small groups and thin rates (test)")]), ("ul", [[n] for n in test["notes"]])]
    uses = sel.get("sensitive_uses") or []
    fallbacks = calibration_fallbacks_text(sel.get("calibration"))
    blocks += [
        ("h", 2, "The selected model"),
        ("ul", [[f"Method ", _b(sel["method"]), ", eta ", _b(fmt_eta(sel["eta"])),
                 f", seed {sel['seed']}, threshold {fmt_threshold(sel['threshold'])}, run ", ("code", sel["run_id"]),
                 *([f"; this search trial's settings: {search_params_text(sel['search_params'])}"]
                   if sel.get("search_params") else []), "."],
                ["Needs the sensitive attribute at prediction time: ",
                 _b("yes" if sel["needs_sensitive_at_predict"] else "no"),
                 f" ({'; '.join(uses)})" if uses else "", *_proxy_words(c), "."],
                [f"Calibration: {calibration_text(sel.get('calibration'))}. " + (f"{fallbacks} " if fallbacks else "")
                 + (c.get("calibration_note", "") if ranks else f"{METRIC_LABELS['max_group_ece']}: {NO_RANKING}.")]]),
        ("h", 2, "Purpose and intended use"),
        ("p", [rec["purpose"] or "(not stated)"]),
    ]
    if rec.get("intended_use"):
        blocks.append(("p", [rec["intended_use"]]))
    blocks += [
        ("h", 2, "Fairness definition"),
        ("p", [_b(str(rec["fairness_definition"]).replace("_", " ")), ". " + (rec.get("fairness_rationale") or "")]),
        *_frontier_blocks(c),
        ("h", 2, "Data"),
        ("ul", [[f"Source: {ds['name']} (SHA-256 {ds['data_hash'][:16]}...), {ds['rows']:,} rows; train/validation/"
                 f"test {ds['split_sizes']} (split seed {ds['split_seed']}"
                 + (f", stratified by {ds['stratified_by']}" if ds.get("stratified_by") else "")
                 + (f"; rows SHA-256 {ds['split_rows_sha256']}" if ds.get("split_rows_sha256") else "") + ")."],
                *([[_sample_text(ds["sample"])]] if ds.get("sample") else []),
                *([[f"{ds['threshold_rows']['rows']:,} further validation rows ({ds['threshold_rows']['source']}) "
                    "were reserved for the post-processors' thresholds; the frontier was chosen on the "
                    "validation rows above."]] if ds.get("threshold_rows") else []),
                ["Target: ", ("code", spec["target"]), *_positive_class(spec, c.get("outcome"))],
                ["Sensitive attributes: ", *_joined([("code", s) for s in spec["sensitive"]]),
                 " (not used as model inputs" + (" - except: they are features by choice"
                                                 if spec.get("sensitive_as_features") else "") + ")"
                 + "".join(_proxy_words(c, "the model")) + "."],
                [f"Rows with any missing value{' in the sample' if ds.get('sample') else ''}: "
                 f"{ds['missing_values']}."]]),
        # Counted on the data the model was trained and measured on: the sample, when there is one.
        ("table", ["Attribute", "Group", "Rows (the sample)" if ds.get("sample") else "Rows (whole table)"],
         [[g["attribute"], g["group"], fmt(g["n"])] for g in ds["group_sizes"]]),
        ("h", 2, "Known limitations"),
        ("ul", [[x] for x in c["limitations"]]),
        ("h", 2, "What should trigger a re-review"),
        ("ul", [[x] for x in c.get("rereview_triggers") or []]),
    ]
    return blocks + (review_blocks(reviews) if isinstance(reviews, dict) else [])


def _positive_class(spec: dict, outcome: dict | None) -> list:
    """The record's words for the positive class: favourable, unless the dataset says it is an
    adverse prediction (a risk score)."""
    labels = []
    for i, value in enumerate(positive_labels(spec["positive_label"])):
        labels += [" or "] * (i > 0) + [("code", value)]
    if outcome and outcome.get("positive_is_adverse"):
        return [", positive class ", *labels, f" ({outcome['positive_meaning']}): an "
                "adverse prediction for the person, so a higher selection rate is worse for a group."]
    return [", favourable outcome ", *labels, "."]


def _sample_text(sample: dict) -> str:
    """The record's line on a model trained and evaluated on a stratified sample of the table."""
    return (f"Trained and evaluated on a stratified sample: {int(sample['rows']):,} of the table's "
            f"{int(sample['of_rows']):,} rows with an outcome, drawn per {sample['stratified_by']} (seed "
            f"{sample['seed']}; the whole table's SHA-256 {str(sample['source_hash'])[:16]}...). Every group "
            "kept its share; intervals are wider than the whole table's would be.")


def _joined(runs: list, sep: str = ", ") -> list:
    out = []
    for i, r in enumerate(runs):
        out += ([sep] if i else []) + [r]
    return out


# --------------------------------------------------------------------------- Markdown

def _edges(text: str, escape) -> str:
    """``escape`` of ``text`` on one line, keeping one space where ``text`` starts or ends with
    whitespace (escapers collapse it, and runs are joined without separators)."""
    body = " ".join(text.split())
    if not body:
        return " " if text else ""
    return (" " if text[:1].isspace() else "") + escape(body) + (" " if text[-1:].isspace() else "")


def _code_span(text) -> str:
    # Inside a code span only a backtick ends it; everything else is shown literally, so only
    # invisible characters need markers.
    return "`" + visible_text(text).replace("`", "'").replace("\n", " ") + "`"


def render_markdown(rec: dict, *, escape=None, heading_offset: int = 0, reviews: str | dict | None = None,
                    card: bool = True) -> str:
    """The decision record as Markdown.

    Parameters
    ----------
    rec : dict
    escape : callable, optional
        Applied to every piece of text, so that no user text is read as Markdown (default
        :func:`escape_markdown`, as in the bundle's ``decision_record.md``). It must escape what
        would start a block where its text starts a line: each line of a multi-line answer is
        escaped alone and ends in a hard break, in the same paragraph.
    heading_offset : int
        Added to every heading level (2: the record's title becomes ``###``).
    reviews : str or dict, optional
        The sign-off status for the headline card, or the review's evidence (see :func:`record_blocks`).
    card : bool
        Include the headline card (a page that draws its own card passes False).
    """
    esc = escape or escape_markdown
    lines = []
    for block in record_blocks(rec, reviews=reviews):
        kind = block[0]
        if kind == "h":
            lines += ["#" * (block[1] + heading_offset) + " " + esc(block[2]), ""]
        elif kind == "p":
            lines += [_md_runs(block[1], esc), ""]
        elif kind == "kv" and card:
            lines += _md_card(block[1], esc) + [""]
        elif kind == "table":
            header, rows = block[1], block[2]
            lines += ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in rows]
            lines.append("")
        elif kind == "ul":
            lines += [f"- {_md_runs(item, esc, one_line=True)}" for item in block[1]] + [""]
    return "\n".join(lines)


def _md_runs(items, esc, *, one_line: bool = False) -> str:
    out = []
    for r in items:
        if isinstance(r, tuple):
            kind, text = r
            out.append(_code_span(text) if kind == "code" else f"**{esc(text)}**")
        elif one_line:
            out.append(_edges(str(r), esc))
        else:
            # Each line of an answer escaped alone, so none can open a block; a hard break
            # between them keeps the line breaks, blank lines dropped so it stays one paragraph.
            out.append("  \n".join(_edges(line, esc) for line in str(r).splitlines() if line.strip()))
    return "".join(out)


def _md_card(items, esc) -> list[str]:
    return [f"- **{esc(label)}:** {_md_runs(value, esc, one_line=True)}" for label, value in items]


def card_markdown(rec: dict, *, escape=None, reviews: str | dict | None = None) -> str:
    """The headline card alone, as the Markdown list :func:`render_markdown` puts first (for a
    page that draws it in its own box); ``escape`` as there."""
    return "\n".join(_md_card(headline(rec, reviews=reviews), escape or escape_markdown))


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:"DejaVu Sans","Liberation Sans",Arial,sans-serif;font-size:10.5pt;color:#1a1a1a;max-width:60em;
margin:2em auto;padding:0 1em;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #bbb;padding:.25em .5em;
text-align:left;vertical-align:top}th{background:#f0f0f0}
.card{border:2px solid #333;border-radius:6px;padding:.6em 1em;margin:1em 0;display:grid;
grid-template-columns:max-content 1fr;gap:.3em 1.2em}.card dt{font-weight:bold}.card dd{margin:0;white-space:pre-wrap}
code{font-family:"DejaVu Sans Mono",monospace;background:#f4f4f4;padding:0 .2em}
@media print{body{margin:0;max-width:none}table{page-break-inside:auto}tr{page-break-inside:avoid}}
"""


def render_html(rec: dict, *, reviews: str | dict | None = None) -> str:
    """The decision record as one self-contained, printable HTML page (no external resource;
    all text escaped)."""

    def e(text) -> str:
        return html.escape(visible_text(text))

    def runs(items) -> str:
        out = []
        for r in items:
            if isinstance(r, tuple):
                kind, text = r
                out.append(f"<code>{e(str(text))}</code>" if kind == "code" else f"<strong>{e(str(text))}</strong>")
            else:
                out.append(e(str(r)).replace("\n", "<br>"))
        return "".join(out)

    title = f"Decision record: {rec['content']['dataset']['name']}"
    body = []
    for block in record_blocks(rec, reviews=reviews):
        kind = block[0]
        if kind == "h":
            body.append(f"<h{block[1]}>{e(block[2])}</h{block[1]}>")
        elif kind == "p":
            body.append(f"<p>{runs(block[1])}</p>")
        elif kind == "kv":
            body.append('<dl class="card">' + "".join(f"<dt>{e(label)}</dt><dd>{runs(value)}</dd>"
                                                     for label, value in block[1]) + "</dl>")
        elif kind == "table":
            head = "".join(f"<th>{e(str(h))}</th>" for h in block[1])
            rows = "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in row) + "</tr>" for row in block[2])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{runs(item)}</li>" for item in block[1]) + "</ul>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


# --------------------------------------------------------------------------- PDF

def _pdf_font(pdf) -> str | None:
    """Register the first Unicode font found (its name), or None for the core Latin-1 font."""
    for regular, bold in PDF_FONTS:
        if Path(regular).is_file() and Path(bold).is_file():
            pdf.add_font("RecordSans", "", regular)
            pdf.add_font("RecordSans", "B", bold)
            return "RecordSans"
    return None


def _col_widths(pdf, header, rows, total: float) -> list[float]:
    """Column widths (mm) that fit each column's longest word, the rest shared in proportion
    to the columns' typical text widths."""
    pad = 2.5  # cell padding on both sides, and a margin for the bold header

    def widths(col):
        cells = [str(header[col])] + [str(r[col]) for r in rows]
        word = max((pdf.get_string_width(w) for t in cells for w in re.split(r"[\s\u00ad]+", t)), default=0.0) + pad
        typical = float(np.percentile([pdf.get_string_width(t) for t in cells], 90)) + pad
        return word, max(typical, word)

    need = [widths(i) for i in range(len(header))]
    floor = [w for w, _ in need]
    if sum(floor) >= total:  # too many columns to keep words whole: share by typical width
        return [total * t / sum(t for _, t in need) for _, t in need]
    extra = [max(t - w, 0.0) for w, t in need]
    spare = total - sum(floor)
    if sum(extra) <= spare:
        return [w + e + (spare - sum(extra)) / len(need) for w, e in zip(floor, extra)]
    return [w + spare * e / sum(extra) for w, e in zip(floor, extra)]


#: A headline value longer than this is set as a paragraph, not a table cell (a cell cannot
#: break across pages; at 9.5 pt about 1,500 characters fill a page's cell); a table with such a
#: cell, or one of more lines than ``PDF_CELL_LINES``, is set as paragraphs too.
PDF_KV_CELL_CHARS = 800
PDF_CELL_LINES = 20

#: A word longer than this gets a break opportunity (a soft hyphen) every as many characters in
#: the PDF's table cells: a pasted token of 300 characters left its column no width for any
#: other, and fpdf refused the record ("not enough horizontal space": hostile-input audit,
#: session 53).
PDF_LONGEST_WORD = 30


def _breakable(t: str) -> str:
    """``t`` with a soft hyphen every :data:`PDF_LONGEST_WORD` characters of a longer word."""
    return re.sub(rf"\S{{{PDF_LONGEST_WORD + 1},}}",
                  lambda m: "\u00ad".join(m.group(0)[i:i + PDF_LONGEST_WORD]
                                          for i in range(0, len(m.group(0)), PDF_LONGEST_WORD)), t)


def render_pdf(rec: dict, *, reviews: str | dict | None = None) -> bytes:
    """The decision record as an A4 PDF (fpdf2): the same outline as :func:`render_html`,
    tables that wrap their cells and repeat their header on each page.

    Text is set in a Unicode TrueType font when one of :data:`PDF_FONTS` is installed; without
    one, characters outside Latin-1 print as "?" and the first page says so.
    """
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    pdf = FPDF(format="A4", unit="mm")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=15)
    family = _pdf_font(pdf)
    lossy = family is None
    family = family or "helvetica"
    title = f"Decision record: {rec['content']['dataset']['name']}"

    def text(t) -> str:
        t = visible_text(t)
        return t.encode("latin-1", "replace").decode("latin-1") if lossy else t

    pdf.set_title(text(title))
    pdf.set_creator("fairkit")
    pdf.add_page()
    width = pdf.epw
    if lossy:
        pdf.set_font(family, "", 8)
        pdf.multi_cell(width, 4, "Note: no Unicode font (DejaVu or Liberation) is installed; characters outside "
                       "Latin-1 are printed as '?'. The HTML copy shows every character.", new_x="LMARGIN", new_y="NEXT")

    def paragraph(items, size=9.5):
        # Bold runs through fpdf2's own markdown switch, with every other '*' '_' '-' escaped away.
        parts = []
        for r in items:
            kind, t = r if isinstance(r, tuple) else ("", r)
            t = text(t).replace("\\", "\\\\")
            t = re.sub(r"([*_~-])\1", lambda m: m.group(1) + "\\" + m.group(1), t)
            parts.append(f"**{t}**" if kind == "b" else t)
        pdf.set_font(family, "", size)
        pdf.multi_cell(width, size * 0.5, "".join(parts), markdown=True, align="L", new_x="LMARGIN", new_y="NEXT")

    for block in record_blocks(rec, reviews=reviews):
        kind = block[0]
        if kind == "h":
            size = {1: 16, 2: 12.5}.get(block[1], 11)
            pdf.ln(3 if block[1] > 1 else 0)
            pdf.set_font(family, "B", size)
            pdf.multi_cell(width, size * 0.5, text(block[2]), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        elif kind == "p":
            paragraph(block[1])
            pdf.ln(1.5)
        elif kind == "ul":
            for item in block[1]:
                paragraph(["- ", *item])
            pdf.ln(1.5)
        elif kind == "kv":
            pdf.set_draw_color(40, 40, 40)
            # A table row cannot break across pages, and a long value (a rationale of 4,000
            # characters) made fpdf refuse the whole record: the dashboard's PDF button gave
            # nothing (hostile-input audit, session 52). Such a value is a paragraph of its own,
            # in its place between the table's other rows.
            pairs = [(label, "".join(v[1] if isinstance(v, tuple) else str(v) for v in value))
                     for label, value in block[1]]
            chunks = []
            for label, value in pairs:
                long = len(value) > PDF_KV_CELL_CHARS
                if long or not chunks or chunks[-1][0]:
                    chunks.append((long, []))
                chunks[-1][1].append((label, value))
            for long, rows in chunks:
                pdf.set_font(family, "", 9.5)
                if long:
                    for label, value in rows:
                        paragraph([("b", label), ": ", value])
                    continue
                with pdf.table(col_widths=(0.36 * width, 0.64 * width), first_row_as_headings=False,
                               text_align="LEFT", line_height=4.6, borders_layout="HORIZONTAL_LINES",
                               padding=1.2) as table:
                    for label, value in rows:
                        row = table.row()
                        row.cell(text(label), style=FontFace(emphasis="BOLD"))
                        row.cell(_breakable(text(value)))
            pdf.ln(2)
        elif kind == "table":
            header, rows = block[1], [[str(v) for v in r] for r in block[2]]
            if any(len(v) > PDF_KV_CELL_CHARS or v.count("\n") > PDF_CELL_LINES for r in rows for v in r):
                # A row cannot break across pages: a reviewer's comment of 6,000 characters (or 80
                # lines) made fpdf refuse the whole record (hostile-input audit, session 53). Such a
                # table is set as one paragraph per row, every cell named by its column.
                for r in rows:
                    paragraph([part for i, (h, v) in enumerate(zip(header, r))
                               for part in ((("b", f"{h}: "), v) if i == 0 else ("; ", ("b", f"{h}: "), v))])
                pdf.ln(2)
                continue
            size = 8 if len(header) <= 5 else 7
            pdf.set_font(family, "", size)
            # Break opportunities after text(): it shows a soft hyphen as a marker.
            rows = [[_breakable(text(v)) for v in r] for r in rows]
            with pdf.table(col_widths=_col_widths(pdf, header, rows, width), text_align="LEFT",
                           line_height=size * 0.45, padding=0.8,
                           headings_style=FontFace(emphasis="BOLD", fill_color=(235, 235, 235))) as table:
                table.row([text(h) for h in header])
                for r in rows:
                    table.row(r)
            pdf.ln(2)
    return bytes(pdf.output())
