package main

import "syscall"

// pbChildAttr has the kernel stop the PocketBase child if yerp bench dies
// without stopping it (killed, say): it never outlives the benchmark.
func pbChildAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
