"""Reports a marketer reads: plain sentences, a table and a plot (inline SVG, drawn
with matplotlib's object API, no pyplot), as one self-contained HTML page."""

from __future__ import annotations

import io
from html import escape
from typing import Any

__all__ = ["bubble_html", "fairness_html", "fairness_plot"]

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}.alert{color:#a00;font-weight:600}.ok{color:#060}
"""


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100 * float(x):.0f}%"


def _num(x: Any, digits: int = 2) -> str:
    return "-" if x is None else f"{float(x):.{digits}f}"


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style><body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def fairness_plot(attribute: dict[str, Any], fmt: str = "svg") -> bytes:
    """Exposure rate per group for each thing shown, with 95% intervals."""
    from matplotlib.figure import Figure  # no pyplot: no global backend, safe in a server thread

    shown = attribute["shown"]
    groups = sorted(attribute["audience"], key=lambda g: (g.startswith("("), g))
    fig = Figure(figsize=(max(5.0, 1.4 * len(shown) + 3.5), 3.2))
    ax = fig.subplots()
    width = 0.8 / max(len(groups), 1)
    for j, group in enumerate(groups):
        xs, ys, lo, hi = [], [], [], []
        for i, entry in enumerate(shown):
            row = next((g for g in entry["exposure"]["groups"] if g["group"] == group), None)
            if row is None or row["rate"]["estimate"] is None:
                continue
            est = row["rate"]["estimate"]
            xs.append(i + (j - (len(groups) - 1) / 2) * width)
            ys.append(est)
            lo.append(est - row["rate"]["low"])
            hi.append(row["rate"]["high"] - est)
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, label=group)
    ax.set_xticks(range(len(shown)), [e["what"] for e in shown])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of the group shown it")
    ax.set_title(f"Exposure by {attribute['attribute']}")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format=fmt)
    return out.getvalue()


def fairness_html(report: dict[str, Any]) -> str:
    subject = f"{report['subject']['kind']} {report['subject']['id']}"
    parts = [
        f"<p>{report['people']} people in the audience of {escape(subject)}"
        + (f" over the last {report['since_days']} days" if report.get("since_days") else "")
        + ". Each group's <em>exposure rate</em> is the share of its people who were shown the "
        "content; the <em>ratio</em> compares it with the most exposed group (the four-fifths rule "
        f"asks at least {report['thresholds']['min_ratio']:g}); the <em>gap</em> is the difference "
        f"in points with its {100 * report['thresholds']['confidence']:.0f}% interval.</p>"
    ]
    if report["alert"]:
        parts.append(f"<p class=alert>{len(report['alerts'])} alert(s): this audience is skewed.</p>")
    else:
        parts.append("<p class=ok>No alert: no group is skewed against past the threshold.</p>")
    for reads in report.get("targeting_reads_protected", []):
        parts.append(
            f"<p class=alert>The targeting rule at {escape(reads['where'])} reads the protected attribute "
            f"{escape(reads['attribute'])} (defined before it was declared): change it.</p>"
        )
    for attribute in report["attributes"]:
        parts.append(f"<h2>By {escape(attribute['attribute'])}</h2>")
        for entry in attribute["shown"]:
            cls = "alert" if entry["exposure"]["alert"] else "ok"
            parts.append(f"<p class={cls}>{escape(entry['summary'])}</p>")
            rows = []
            clicks = {g["group"]: g for g in (entry["clicks"] or {}).get("groups", [])}
            buys = {g["group"]: g for g in (entry.get("conversions") or {}).get("groups", [])}
            for g in entry["exposure"]["groups"]:
                c, b = clicks.get(g["group"]), buys.get(g["group"])
                gap = g["difference"]
                gap_text = (
                    "-"
                    if gap is None
                    else f"{_pct(gap['estimate'])} ({_pct(gap['low'])} to {_pct(gap['high'])})"
                )
                rate = g["rate"]
                rows.append(
                    f"<tr><td>{escape(g['group'])}</td><td>{g['audience']}</td><td>{g['shown']}</td>"
                    f"<td>{_pct(rate['estimate'])} ({_pct(rate['low'])} to {_pct(rate['high'])})</td>"
                    f"<td>{_num(g['ratio_to_reference'])}</td><td>{_num(g['exposure_ratio'])}</td>"
                    f"<td>{gap_text}</td>"
                    f"<td>{_pct(c['rate']['estimate']) if c else '-'}</td>"
                    f"<td>{_pct(b['rate']['estimate']) if b else '-'}</td></tr>"
                )
            parts.append(
                f"<table><tr><th>{escape(attribute['attribute'])}</th><th>people</th><th>shown</th>"
                "<th>exposure rate</th><th>ratio to most exposed</th><th>exposure ÷ audience share</th>"
                "<th>gap</th><th>click rate</th><th>conversion rate</th></tr>" + "".join(rows) + "</table>"
            )
        if attribute["shown"]:
            parts.append(fairness_plot(attribute).decode("utf-8"))
    return _page(f"Fairness audit — {subject}", "".join(parts))


def bubble_html(report: dict[str, Any]) -> str:
    who = report.get("person")
    rows = "".join(
        f"<tr><td>{escape(w['week'])}</td><td>{w['lists']}</td><td>{_num(w['diversity'])}</td>"
        f"<td>{_num(w['entropy'])}</td><td>{_pct(w['category_coverage'])}</td><td>{_num(w['novelty'])}</td></tr>"
        for w in report["weeks"]
    )
    text = (
        f"<p>Lists shown {'to ' + escape(who) if who else 'to ' + str(report['people']) + ' people'}, "
        "week by week. <em>Diversity</em> is the share of item pairs in a list from different "
        "categories (0: all alike); <em>entropy</em> how evenly categories were shown (1: all "
        "equally); <em>novelty</em> how rarely the items were shown to others (higher: less "
        f"mainstream). People whose latest week's diversity is below {report['threshold']:g} are flagged.</p>"
    )
    table = (
        "<table><tr><th>week</th><th>lists</th><th>diversity</th><th>entropy</th>"
        f"<th>categories covered</th><th>novelty</th></tr>{rows}</table>"
    )
    flagged = report["flagged"]
    if who is None:
        items = "".join(
            f"<li>{escape(f['person'])}: diversity {_num(f['diversity'])} in the week of {escape(f['week'])} "
            f"(was {_num(f['first_diversity'])} in the week of {escape(f['first_week'])})</li>"
            for f in flagged
        )
        table += f"<h2>Flagged ({len(flagged)})</h2><ul>{items}</ul>"
    elif flagged:
        table += "<p class=alert>Flagged: the latest week's lists were too narrow.</p>"
    return _page("Filter-bubble monitor", text + table)
