  .section .text.init
  .globl _start
_start:
  la sp, __stack_top
  call _start_c
1: j 1b
