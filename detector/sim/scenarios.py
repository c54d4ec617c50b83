"""Named simulation scenarios: one frozen parameter set each, in an explicit registry.

Default sizes keep a benchmark of 7 scenarios x 3 seeds x 4 methods within
minutes on two cores: 5,000-6,000 accounts (10,000 for ``large_operator``) and
about 170k-290k events per scenario over 30 days, each in about one second.

| scenario | accounts | what it stresses |
| --- | --- | --- |
| baseline | 5,000 | ~8% of accounts in operators of 3..hundreds, mixed tactics |
| stealth | 5,000 | most operators hide: low participation, hours of jitter, heavy camouflage |
| viral_noise | 6,000 | many viral bursts, memes and fandom events around a few operators |
| many_small | 6,000 | dozens of operators of 3-15 accounts |
| large_operator | 10,000 | one operator of 20% of the accounts (~2,000) plus a few small ones |
| organic_only | 5,000 | nobody is coordinated; only hard negatives |
| mixed | 6,000 | every tactic and infrastructure variant at least once |

Hard negatives (viral bursts, fandom hours, copy-this memes, hyperactive
sharers, households behind one address) are present in every scenario.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TACTICS = ("amplifier", "copypaster", "hashtag-pusher", "link-pusher", "stealth")


@dataclass(frozen=True, kw_only=True)
class ScenarioSpec:
    """Parameters of one scenario; ``n_accounts`` scales every group size."""

    description: str
    n_accounts: int = 5000
    days: int = 30
    events_per_account: float = 34.0  # mean organic events per account over the window
    operator_share: float = 0.08  # accounts in heavy-tailed operators of size 3..size_max
    size_alpha: float = 1.1  # Pareto tail of operator sizes
    size_max: int = 400
    span_sizes: bool = True  # force one operator of 3 and one holding ~30% of the operator budget
    big_operator_share: float = 0.0  # one extra operator of this share of the accounts
    tactic_p: dict[str, float] = field(
        default_factory=lambda: {"amplifier": 0.6, "copypaster": 0.4, "hashtag-pusher": 0.4, "link-pusher": 0.4, "stealth": 0.25}
    )
    all_tactics: bool = False  # the first operators cover every tactic and infrastructure variant
    n_viral: int = 3  # viral bursts (one post or URL shared by a large crowd within minutes)
    viral_reach: tuple[float, float] = (0.08, 0.3)  # share of organic accounts in one burst
    n_fandom: int = 2  # fandom or live-event groups posting a hashtag at scheduled hours
    n_memes: int = 2  # "copy and paste this" texts spreading over hours
    hyperactive_share: float = 0.002
    household_share: float = 0.04


_STEALTHY = {"amplifier": 0.6, "copypaster": 0.3, "hashtag-pusher": 0.3, "link-pusher": 0.4, "stealth": 0.85}

SCENARIOS: dict[str, ScenarioSpec] = {
    "baseline": ScenarioSpec(description="operators of varied size and tactics among an organic crowd"),
    "stealth": ScenarioSpec(description="operators that hide behind jitter, low participation and camouflage", tactic_p=_STEALTHY),
    "viral_noise": ScenarioSpec(
        description="a few operators drowned in viral bursts, memes and fandom events",
        n_accounts=6000,
        operator_share=0.06,
        n_viral=12,
        viral_reach=(0.05, 0.4),
        n_fandom=6,
        n_memes=6,
        hyperactive_share=0.004,
        household_share=0.06,
    ),
    "many_small": ScenarioSpec(
        description="dozens of small operators of 3-15 accounts",
        n_accounts=6000,
        operator_share=0.1,
        size_max=15,
        size_alpha=1.5,
        span_sizes=False,
    ),
    "large_operator": ScenarioSpec(
        description="one operator of about 2,000 accounts plus a few small ones",
        n_accounts=10000,
        events_per_account=26.0,
        operator_share=0.02,
        size_max=60,
        span_sizes=False,
        big_operator_share=0.2,
    ),
    "organic_only": ScenarioSpec(description="nobody is coordinated: only organic activity and hard negatives", operator_share=0.0),
    "mixed": ScenarioSpec(
        description="every tactic and infrastructure variant, with all hard negatives",
        n_accounts=6000,
        operator_share=0.1,
        all_tactics=True,
        n_viral=5,
        n_fandom=3,
        n_memes=3,
    ),
}
