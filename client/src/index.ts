/** Public API of @corebank/client: the load engine, its statistics, the web UI and the CLI command. */
export {
  createLoadRunner,
  DEFAULT_POLL_INTERVAL_MS,
  DEFAULT_SAGA_TIMEOUT_MS,
  DEFAULT_TIMEOUT_MS,
  type LoadRunner,
  type LoadRunnerOptions,
  type LoadStats,
  type StartOptions,
} from './engine/load-runner.ts';
export { createUndiciTransport, RequestTimeoutError, type HttpRequest, type HttpResponse, type HttpTransport } from './engine/http-transport.ts';
export {
  DEPOSIT_NAME,
  POLL_NAME,
  SAGA_DEPOSIT_NAME,
  SAGA_WITHDRAW_NAME,
  SCENARIO_REQUEST_NAMES,
  WITHDRAW_NAME,
} from './engine/scenario.ts';
export { checkRun, formatFinalReport, runHeadless, writeCsvFiles, type CheckResult, type HeadlessOptions } from './headless.ts';
export { configureLoadCommand, registerLoadCommand, type LoadCommandOptions } from './cli.ts';
export { buildWebApp, DEFAULT_TARGET_HOST, DEFAULT_WEB_PORT, startWebUi, type WebUi, type WebUiOptions } from './web/web-ui.ts';
export { AGGREGATED_NAME, type EntrySnapshot, type FailureGroup, type HistoryPoint, type SagaSnapshot, type StatsSnapshot } from './stats/request-stats.ts';
export type { LocustRequestsReport, LocustStatsEntry, RunnerState } from './stats/locust-report.ts';
export { failuresCsv, requestStatsCsv, sagasCsv, statsHistoryCsv } from './stats/csv.ts';
export { parseRunTime } from './stats/run-time.ts';
