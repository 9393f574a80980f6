"""Print the README's model table (markdown) from the registry: ``python tools/model_table.py``.

Counts come from ``zoo.model_info`` (models built on the meta device, so exact and instant).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zoo import list_models, model_info  # noqa: E402
from zoo.registry_cli import human  # noqa: E402


def attention(info: dict, detail: bool) -> str:
    if detail:  # every layer's full pattern
        return "<br>".join(x.replace("|", "\\|") for x in info["layers"])
    params = ", ".join(f"{k}={v}" for k, v in info["pattern_params"].items())
    text = f"{info['pattern']}({params})"
    if info["schedule"] != "same":
        sp = ", ".join(f"{k}={v}" for k, v in info["config"]["schedule_params"].items())
        text += f", {info['schedule']} schedule" + (f" ({sp})" if sp else "")
    if info["family"] == "captioner":
        text = f"prefix-LM over {text}"
    return text


def table(pattern: str = "*", family: str | None = None, detail: bool = False) -> str:
    lines = ["| model | params | dim x depth | seq len | attention | modality | recipe |",
             "|---|---:|---|---:|---|---|---|"]
    for name in list_models(pattern, family=family):
        i = model_info(name)
        c = i["config"]
        recipe = f"`{i['default_recipe']}`" if i["default_recipe"] else ""
        lines.append(f"| `{name}` | {human(i['params'])} | {c['dim']} x {c['depth']} | {i['max_seq_len']:,} | "
                     f"{attention(i, detail)} | {i['modality']} | {recipe} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("filter", nargs="?", default="*")
    p.add_argument("--family", default=None)
    p.add_argument("--detail", action="store_true", help="every layer's full pattern")
    args = p.parse_args(argv)
    print(table(args.filter, args.family, args.detail))
    return 0


if __name__ == "__main__":
    sys.exit(main())
