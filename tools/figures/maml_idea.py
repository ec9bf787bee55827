"""Draw the picture of MAML's idea, book/images/maml_idea.svg (after Figure 1 of Finn,
Abbeel and Levine, 2017, in the book's own drawing and notation).

    .venv/bin/python tools/figures/maml_idea.py [--out PATH]

The figure is a sketch of parameter space: the initialisation theta, reached by the outer
steps of meta-training; from it, one inner step on each task's support set to that
task's adapted parameters theta'_i, inside that task's loss contours near its own best
parameters theta*_i; and
the meta-gradient of each task's query loss flowing back through its inner step to theta.
The drawing is deterministic: a fixed hash salt and no date in the file, so running this
again writes the same bytes (with the pinned stack's matplotlib, requirements.txt; another
matplotlib version draws the same picture in other bytes).
"""

import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Ellipse, FancyArrowPatch  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "book" / "images" / "maml_idea.svg"

MAML = "C0"          # the book's colour for MAML (book/notation.md)
INNER = "0.15"       # inner steps: near-black
TASK = "0.55"        # the tasks' loss contours: grey

THETA = np.array([0.0, 0.0])
# Each task's best parameters theta*_i; the inner step lands inside the task's loss
# contours, SHORT of theta*_i (between the inner and the middle contour).
OPTIMA = [np.array([2.8, 1.55]), np.array([3.3, -0.3]), np.array([2.2, -1.85])]
SHORT = 0.26
PATH = np.array([[-3.3, -1.3], [-2.6, -0.1], [-1.6, 0.45], [-0.7, 0.35], THETA])


def arrow(ax, start, end, **style):
    ax.add_patch(FancyArrowPatch(tuple(start), tuple(end), **style))


def draw(out):
    plt.rcParams.update({
        "svg.hashsalt": "maml-idea",   # fixed ids in the SVG: reruns write the same file
        "font.size": 11,
        "mathtext.fontset": "dejavusans",
        "figure.facecolor": "white",
        "savefig.facecolor": "white",
    })
    fig, ax = plt.subplots(figsize=(7.2, 5.0))
    fig.subplots_adjust(left=0.01, right=0.99, top=0.94, bottom=0.25)
    ax.set_xlim(-3.8, 4.6)
    ax.set_ylim(-2.6, 2.3)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("MAML learns an initialisation $\\theta$ from which one step fits "
                 "each task", fontsize=12)

    # Each task's loss: nested contours around its best parameters.
    for i, optimum in enumerate(OPTIMA, start=1):
        angle = np.degrees(np.arctan2(optimum[1], optimum[0])) + 90
        for scale in (0.35, 0.7, 1.05):
            ax.add_patch(Ellipse(tuple(optimum), 1.5 * scale, 0.95 * scale, angle=angle,
                                 fill=False, color=TASK, lw=0.9))
        ax.plot(*optimum, marker="*", color=TASK, markersize=9)
        ax.annotate(f"$\\theta^*_{i}$ (task $\\mathcal{{T}}_{i}$)", optimum,
                    xytext=(34, -4), textcoords="offset points", color="0.3",
                    fontsize=11)

    # Meta-training: the outer steps that brought theta here from a random start.
    ax.plot(PATH[:-1, 0], PATH[:-1, 1], color=MAML, lw=3.5, solid_capstyle="round")
    arrow(ax, PATH[-2], PATH[-1], arrowstyle="-|>,head_length=8,head_width=4.5",
          color=MAML, lw=3.5, shrinkA=0, shrinkB=7, zorder=4)
    ax.plot(*PATH[0], "o", color=MAML, markersize=7)
    ax.annotate("$\\theta_0$, at random", PATH[0], xytext=(-14, -20),
                textcoords="offset points")
    ax.annotate("meta-training:\nthe outer steps", PATH[1], xytext=(-2, 14),
                textcoords="offset points", color=MAML, fontsize=10, ha="right")

    # One inner step per task, and its meta-gradient flowing back through it.
    for i, optimum in enumerate(OPTIMA, start=1):
        direction = (optimum - THETA) / np.linalg.norm(optimum - THETA)
        adapted = optimum - SHORT * direction
        arrow(ax, THETA, adapted, arrowstyle="-|>,head_length=6,head_width=3",
              color=INNER, lw=1.4, shrinkA=7, shrinkB=2, zorder=3)
        ax.plot(*adapted, "o", color=INNER, markersize=4.5, zorder=5)
        ax.annotate(f"$\\theta'_{i}$", adapted, xytext=(-26, 4) if i == 1 else (-10, 9),
                    textcoords="offset points", fontsize=11, zorder=7,
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none"})
        arrow(ax, adapted, THETA, arrowstyle="-|>,head_length=6,head_width=3",
              color=MAML, lw=1.3, linestyle=(0, (4, 3)), shrinkA=5, shrinkB=8,
              connectionstyle="arc3,rad=-0.28", zorder=2)
    ax.plot(*THETA, "o", color=MAML, markersize=10, zorder=6)
    ax.annotate("$\\theta$", THETA, xytext=(-2, 11), textcoords="offset points",
                fontsize=15, color=MAML)

    key = [
        (Line2D([], [], color=INNER, lw=1.4, marker=">", markevery=[1]),
         "inner step on task $i$'s support set: "
         "$\\theta'_i = \\theta - \\alpha\\nabla_\\theta"
         "\\mathcal{L}_{\\mathcal{D}^{\\mathrm{tr}}_i}(\\theta)$"),
        (Line2D([], [], color=MAML, lw=1.3, linestyle=(0, (4, 3))),
         "meta-gradient of task $i$'s query loss, back through its inner step: "
         "$\\nabla_\\theta\\mathcal{L}_{\\mathcal{D}^{\\mathrm{val}}_i}(\\theta'_i)$"),
        (Line2D([], [], color=MAML, lw=3.5),
         "outer steps, on the mean over a meta-batch of $B$ tasks: "
         "$\\theta \\leftarrow \\theta - \\beta\\nabla_\\theta\\frac{1}{B}\\sum_i"
         "\\mathcal{L}_{\\mathcal{D}^{\\mathrm{val}}_i}(\\theta'_i)$"),
        (Line2D([], [], color=TASK, lw=0.9, marker="*", markersize=9),
         "a task's loss, and $\\theta^*_i$, the best parameters for task $i$ alone"),
    ]
    fig.legend(*zip(*key), loc="lower left", bbox_to_anchor=(0.02, 0.0), frameon=False,
               fontsize=10, handlelength=2.6, labelspacing=0.7)

    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, metadata={"Date": None})   # the format from the suffix: .svg
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    draw(parser.parse_args().out)


if __name__ == "__main__":
    main()
