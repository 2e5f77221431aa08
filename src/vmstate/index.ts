/** The VM state layer's public face: the snapshot file format and whole-machine save/restore. */
export {
  writeSnapshot, readSnapshot, readSnapshotInto, parseSnapshot, SnapshotError,
  SNAPSHOT_MAGIC, SNAPSHOT_FORMAT_VERSION, SNAPSHOT_PAGE_SIZE, SNAPSHOT_CHUNK_PAGES,
  type SnapshotErrorCode, type SnapshotSection, type SnapshotRam, type SnapshotInput, type Snapshot,
  type SnapshotCompression, type SnapshotRamInfo, type ParsedSnapshot,
} from './snapshot.js';
export {
  saveMachine, restoreMachine, restoreMachineFromFile, snapshotConfigOf, parseSnapshotConfig,
  checkConfigMatches, ramViews, quiesceMachine, describeVirtio, BOARD_STATE_VERSION,
  type SnapshottableMachine, type SnapshotMachineConfig, type BoardState,
} from './machine-state.js';
export { crc32 } from './crc32.js';
export {
  VmSnapshots, planVmDisks, listSnapshots, loadMetadata, deleteSnapshotOffline, cloneSnapshot, diskDeviceName,
  type SnapshotDirHost, type DiskRequest, type PlannedDisk, type LiveDisk, type SnapshotSummary,
} from './vm-snapshots.js';
export {
  parseMetadata, serializeMetadata, renderTree, collectGarbage, removeSnapshot, findSnapshot, emptyMetadata,
  SNAPSHOT_METADATA_FILE, SNAPSHOT_METADATA_FORMAT, SNAPSHOT_METADATA_VERSION, SNAPSHOT_TAG_PATTERN,
  type SnapshotMetadata, type SnapshotRecord, type VmDiskRecord, type OwnedImage, type CloneRecord,
} from './snapshot-tree.js';
