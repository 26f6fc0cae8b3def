"""Templates run in Jinja2's immutable sandbox: injection attempts neither run code nor
read files (a canary file is never created), output is bounded, bad templates are
refused at definition time."""

from __future__ import annotations

from pathlib import Path

import pytest

from surmesure.decisions.domain import InvalidPlacement
from surmesure.decisions.render import MAX_OUTPUT, Renderer, check_template


def _attempts(canary: Path, secret: Path) -> list[str]:
    touch = f"touch {canary}"
    return [
        "{{ cycler.__init__.__globals__.os.system('" + touch + "') }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ profile.__class__.__init__.__globals__['os'].system('" + touch + "') }}",
        "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.popen('" + touch + "').read() }}",
        "{{ lipsum.__globals__['os'].popen('" + touch + "').read() }}",
        "{{ namespace.__init__.__globals__.os.system('" + touch + "') }}",
        "{% include '" + str(secret) + "' %}",
        "{% import '" + str(secret) + "' as s %}{{ s }}",
        "{{ config }}{{ request }}{{ range.__globals__ }}",
        "{{ profile.traits.update({'plan': 'hacked'}) }}{{ profile.traits.plan }}",
        "{{ context.__getitem__('x') }}",
        "{{ (1).__class__.__base__.__subclasses__() }}",
        "{% for i in range(10**9) %}x{% endfor %}",
    ]


def test_template_injection_runs_no_code_and_reads_no_file(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    renderer = Renderer()
    data = {"profile": {"traits": {"plan": "pro"}}, "context": {"x": 1}, "item": None}
    for source in _attempts(canary, secret):
        out = renderer.render(source, data)
        assert "TOP-SECRET" not in out.text
        assert "hacked" not in out.text
        assert "subclasses" not in out.text
        assert "<class" not in out.text
    assert not canary.exists()
    assert data["profile"]["traits"] == {"plan": "pro"}


def test_a_template_fills_profile_and_item_fields_escaped() -> None:
    out = Renderer().render(
        "Hi {{ profile.traits.first_name | default('there') }}, see {{ item.title }}",
        {"profile": {"traits": {"first_name": "<Ann>"}}, "item": {"title": "Boots"}, "context": {}},
    )
    assert out.error is None
    assert out.text == "Hi &lt;Ann&gt;, see Boots"


def test_output_is_bounded() -> None:
    out = Renderer().render("{% for i in range(1000) %}{{ 'x' * 100 }}{% endfor %}", {})
    assert out.truncated
    assert len(out.text) == MAX_OUTPUT


def test_a_template_that_does_not_parse_is_refused() -> None:
    with pytest.raises(InvalidPlacement) as caught:
        check_template("{% for %}", "variants.0.template")
    assert caught.value.code == "decisions.invalid_placement"
