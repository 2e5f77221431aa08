/** The accelerator layer's public face: a KVM-shaped VM/vCPU API over the interpreter hart. */
export {
  createVm, Vm, Vcpu, AccelError,
  type VmOptions, type VmClock, type SbiConsole, type MemoryRegionSpec, type VcpuExit, type VcpuExitKind,
  type SystemEventKind, type HsmState, type VcpuState,
} from './vm.js';
export { handleSbiCall, SBI_IMPL_ID, type SbiHost } from './sbi.js';
