"""Draw docs/formulas.md's picture of the three sine formulas from ckptfix's reference math.

    python docs/make_figures.py   # writes docs/sine-profiles.png (needs matplotlib: pip install '.[png]')
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ckptfix.schedulers.profiles import (  # noqa: E402
    PROFILES,
    SIMPLETUNER_SINE_V1,
    SIMPLETUNER_SINE_V2,
    SINE,
)

T0, BASE, ETA = 100, 1e-4, 1e-6
LABELS = {
    SINE: "sine (fixed, reference): eta_min at T_i/2, base at each restart",
    SIMPLETUNER_SINE_V1: "simpletuner-sine-v1 (2024-02..09): never below (base+eta_min)/2",
    SIMPLETUNER_SINE_V2: "simpletuner-sine-v2 (2024-09..): sin, period 2*T_0",
}


def main() -> None:
    xs = list(range(0, 3 * T0 + 1))
    fig, ax = plt.subplots(figsize=(10, 5.2), dpi=100)
    for name, style in ((SINE, "-"), (SIMPLETUNER_SINE_V1, "--"), (SIMPLETUNER_SINE_V2, ":")):
        ys = [PROFILES[name].expected_lrs([BASE], ETA, x, T0)[0] for x in xs]
        ax.plot(xs, ys, style, linewidth=2, label=LABELS[name])
    ax.axhline(ETA, color="grey", linewidth=0.8)
    ax.annotate("eta_min = lr_end", (2, ETA), xytext=(2, 8e-6), fontsize=8, color="grey")
    ax.set_title(f"LR vs scheduler step (T_0 = {T0}, T_mult = 1, base = {BASE:g}, lr_end = {ETA:g})")
    ax.set_xlabel("last_epoch")
    ax.set_ylabel("learning rate")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=9, ncol=1, frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(__file__).with_name("sine-profiles.png")
    fig.savefig(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
