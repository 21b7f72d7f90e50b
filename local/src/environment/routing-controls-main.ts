/**
 * The routing controls process (the ARC cluster stand-in). Configured by
 * ROUTING_CONTROLS_FILE (where the states are kept), ROUTING_CONTROLS_INITIAL
 * (`ap-northeast-1=On,ap-northeast-3=Off`: the regions, primary first, and their states for a
 * first start), PORT (8079) and HOST.
 */
import { envString, listenSettings, runEntryPoint, runService } from '@corebank/kit';
import { buildRoutingControlsApp, openRoutingControlStore, parseRoutingControlStates, ROUTING_CONTROLS_PORT } from './routing-controls.ts';

await runEntryPoint('routing-controls', async () => {
  const initial = parseRoutingControlStates(envString('ROUTING_CONTROLS_INITIAL'));
  const store = openRoutingControlStore(envString('ROUTING_CONTROLS_FILE'), initial);
  const { port, host } = listenSettings(ROUTING_CONTROLS_PORT);
  await runService(buildRoutingControlsApp({ store }), { port, host });
});
