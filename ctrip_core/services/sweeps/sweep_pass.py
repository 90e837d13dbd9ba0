"""One sweep pass over a chain, under its sweep lock: advance the sweeps already signed
(tracking.advance), sign the token sweeps whose gas has arrived and start new ones (starting),
then send new payouts from merchants' payout wallets (services/payouts/sending).

Balances are read at the ripe height, so only confirmed funds are swept.
"""

from __future__ import annotations

from ctrip_core.runtime import Runtime
from ctrip_core.services.accounts.treasuries import treasuries_on
from ctrip_core.services.payouts.sending import send_new, verify_payouts
from ctrip_core.services.sweeps.keys import SweepKeys
from ctrip_core.services.sweeps.starting import sign_waiting, start_new
from ctrip_core.services.sweeps.tracking import SweepReport, advance
from ctrip_core.services.watching.chain_lock import held_for_pass
from ctrip_core.services.watching.confirming import ripe_height
from ctrip_core.services.webhooks.secret_box import SecretBox


async def sweep_pass(runtime: Runtime, keys: SweepKeys, chain_name: str) -> SweepReport:
    """One pass over a chain: advance existing sweeps, then start new ones."""
    chain = runtime.chains[chain_name]
    report = SweepReport()
    async with held_for_pass(runtime.engine, "sweep", chain_name) as acquired:
        if not acquired:
            return SweepReport(busy=True)
        ripe = await ripe_height(chain)  # balances are read there: only confirmed funds are swept
        async with runtime.sessions() as session:  # where deposits go, verified for this pass
            keys.verify_treasuries(chain_name, await treasuries_on(session, chain_name))
        # payouts are verified with the API's secret_key; without it none is sent
        box = SecretBox.from_settings(runtime.settings) if runtime.settings.secret_key is not None else None
        await verify_payouts(runtime, keys, box, chain_name)
        await advance(runtime, chain, keys, report, ripe)
        await sign_waiting(runtime, chain, keys, report, ripe)
        await start_new(runtime, chain, keys, report, ripe)
        await send_new(runtime, chain, keys, box, report, ripe)
    return report
