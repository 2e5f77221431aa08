/** The control layer's public face: the QMP monitor (protocol, commands, unix socket server, client). */
export {
  QmpMonitor, QmpSession, QmpError, DEFAULT_QMP_VERSION, MAX_QUEUED, formatEvent, checkArgs,
  type QmpErrorClass, type QmpVersion, type QmpArgType, type QmpCommand, type QmpCommandContext,
  type QmpTransport, type QmpMonitorOptions,
} from './qmp.js';
export {
  registerMonitorCommands, MonitorController, defaultSnapshotName,
  type MonitorTarget, type RunState, type CpuInfo, type BlockInfo, type SnapshotListing, type JobStatus,
  type JobType, type MonitorCommandsOptions,
} from './commands.js';
export { QmpServer, MonitorError, parseMonitorAddress, MAX_CLIENTS, type MonitorAddress } from './server.js';
export { QmpClient, QmpClientError, type QmpMessage, type QmpEvent } from './qmp-client.js';
export {
  MachineMonitorTarget, SNAPSHOT_TAG, type RunnableMachine, type SnapshotStore, type MachineTargetOptions,
  type MachineSnapshots,
} from './machine-target.js';
export { FileSnapshotStore, nodeSnapshotCompression, SNAPSHOT_SUFFIX } from './snapshot-store.js';
export { JsonStreamReader, parseJson, type JsonStreamItem, type JsonStreamOptions } from './json-stream.js';
export { NodeSnapshotDir, createEmptyDir, isSnapshotDir } from './snapshot-dir.js';
