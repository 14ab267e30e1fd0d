"""Which trainer's rules, for which releases (analysis/trainer_rules.py)."""

from __future__ import annotations

import pytest

from ckptfix.analysis.report import Options, RunFacts
from ckptfix.analysis.trainer_rules import check_trainer_option, choose_rules
from ckptfix.errors import UsageError


def test_trainer_flag_then_installed_then_every_release():
    c = choose_rules("simpletuner", Options(trainer="simpletuner>=4.10"), RunFacts(installed=(("simpletuner", "3.1.6"),)))
    assert [r.last_epoch_from for r in c.rules] == ["global_step"] and c.source == "--trainer simpletuner>=4.10"
    c = choose_rules("simpletuner", Options(), RunFacts(installed=(("simpletuner", "3.1.6"),)))
    assert c.label == "SimpleTuner 1.0 to < 4.9.3" and "3.1.6 installed" in c.source
    c = choose_rules("simpletuner", Options(), RunFacts(installed=(("simpletuner", "0.9"),)))
    assert len(c.rules) == 3 and "not a modelled release" in c.source
    c = choose_rules("simpletuner", Options(), RunFacts(installed=()))
    assert len(c.rules) == 3 and "every modelled release" in c.source
    c = choose_rules("simpletuner", Options(trainer="kohya"))  # --trainer overrides detection
    assert c.trainer == "kohya" and c.rules[0].last_epoch_from == "stored"
    assert choose_rules("diffusers", Options()).source == "detected from the checkpoint's files"


@pytest.mark.parametrize("opts, message", [
    (Options(trainer="simpletuner<1.0"), "models SimpleTuner"),
    (Options(trainer="nope"), "unknown trainer"),
    (Options(target="cosine"), "--target"),
])
def test_bad_options_are_usage_errors(opts, message):
    with pytest.raises(UsageError, match=message):
        check_trainer_option(opts)
