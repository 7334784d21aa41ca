"""What every process says about its providers at start-up, and what `/ready` checks of them.

A provider that is off while active seller routes use it would refuse every payment of those
sellers with `provider_not_configured`: an error at start-up, and `/ready` answers 503, so a
rolling deploy that forgot a setting halts instead of taking traffic.
"""

from __future__ import annotations

from adapters.logs import get_logger

from config.container import Container
from config.provider_modes import SETTING, Mode, ProviderMode, provider_modes

logger = get_logger("paygate.providers")


def _modes(container: Container) -> dict[str, ProviderMode]:
    return {mode.name: mode for mode in provider_modes(container.settings())}


def mode_names(container: Container) -> dict[str, str]:
    """`{provider: "live" | "simulator" | "off"}`: what `/health` shows (never a host)."""
    return {name: str(mode.mode) for name, mode in _modes(container).items()}


async def missing_providers(container: Container) -> list[str]:
    """Why payments of active routes would be refused: one reason per provider that is off."""
    modes = _modes(container)
    reasons = []
    for name in await container.database_probe().providers_in_use():
        mode = modes.get(name)
        if mode is None:
            reasons.append(f"active routes use {name}, which this version does not know")
        elif mode.mode is Mode.OFF:
            reasons.append(f"active routes use {name}, which is off (set {SETTING[name]})")
    return reasons


async def announce_providers(container: Container) -> None:
    """One line per provider, a warning while a simulator is on, an error for each one missing."""
    modes = provider_modes(container.settings())
    for mode in modes:
        logger.info("provider_mode", provider=mode.name, mode=str(mode.mode), detail=mode.describe())
    simulated = [mode.name for mode in modes if mode.mode is Mode.SIMULATOR]
    if simulated:
        logger.warning(
            "simulators_on",
            providers=", ".join(simulated),
            detail="they approve payments without moving money; never for real sellers",
        )
    for reason in await missing_providers(container):
        logger.error("provider_missing", reason=reason, detail="its payments are refused with provider_not_configured")
