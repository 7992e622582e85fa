"""Generate a config repo of N tenants on the example template, for benchmarks and tests.

Usage: python bench/fleetgen.py OUT_DIR [--tenants 1000] [--intents 0]

Each tenant varies brand, locale, tier, FAQs and disabled intents, so rendering does
real work. ``--intents N`` replaces the base model with one of N intents (20 examples
each), for the large-model benchmarks. Secrets come from TENANT_CRM_TOKEN.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ["en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "it-IT", "nl-NL"]
DISABLABLE = ["price_match", "international_shipping", "warranty", "feedback", "store_locator"]


def big_base(intents: int) -> dict[str, object]:
    """A base model with ``intents`` intents of 20 examples each."""
    base = json.loads((ROOT / "templates/support-bot/base.json").read_text())
    base["intents"] = [
        {
            "name": f"intent_{i:05d}",
            "examples": [f"example {j} of intent {i}" for j in range(20)],
            "actions": [f"action_{i % 50}"],
        }
        for i in range(intents)
    ]
    # The template overrides these two, so the base must still have them.
    base["intents"] += [
        {"name": "greeting", "examples": ["hello", "hi"], "actions": ["say_greeting"]},
        {"name": "opening_hours", "examples": ["hours", "open?"], "actions": ["say_hours"]},
    ]
    return base


def tenant_yaml(i: int, rng: random.Random) -> str:
    name = f"tenant-{i:05d}"
    faqs = "".join(
        f'\n    - name: topic_{k}\n      examples: ["question {k} for {name}", "ask {k}"]'
        for k in range(rng.randint(0, 3))
    )
    disabled = rng.sample(DISABLABLE, rng.randint(0, 2))
    return (
        f"name: {name}\n"
        f"workspace: ws-{name}\n"
        "params:\n"
        f"  webhookUrl: https://hooks.example/{name}\n"
        f"  langCode: {rng.choice(LOCALES)}\n"
        f"  envPrefix: t{i:05d}\n"
        "vars:\n"
        f"  brand: Brand {i}\n"
        f"  supportEmail: help@{name}.example\n"
        f"  tier: {rng.choice(['standard', 'premium'])}\n"
        f"  disabledIntents: {json.dumps(disabled)}\n"
        f"  faqs:{faqs or ' []'}\n"
        "secrets:\n"
        "  crmToken: ${env:TENANT_CRM_TOKEN}\n"
    )


def generate(out: Path, tenants: int, *, intents: int = 0, seed: int = 7) -> Path:
    """Write a config repo with ``tenants`` tenants into ``out``; returns ``out``."""
    rng = random.Random(seed)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(ROOT / "templates", out / "templates")
    # No client-side quota: the example's 1000/5m would (rightly) make the 1,001st
    # request of a 1,000-tenant run wait five minutes, and benchmarks measure latency.
    config = (ROOT / "tenantops.yaml").read_text()
    (out / "tenantops.yaml").write_text(config.replace("  rateLimit: 1000/5m\n", ""))
    (out / "tenants").mkdir(parents=True)
    for i in range(tenants):
        (out / "tenants" / f"tenant-{i:05d}.yaml").write_text(tenant_yaml(i, rng))
    if intents:
        base = out / "templates/support-bot/base.json"
        base.write_text(json.dumps(big_base(intents), indent=1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--intents", type=int, default=0)
    args = parser.parse_args()
    generate(args.out, args.tenants, intents=args.intents)
    print(f"wrote {args.tenants} tenants to {args.out}")


if __name__ == "__main__":
    main()
