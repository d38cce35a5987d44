//go:build !linux

package main

import "syscall"

// pbChildAttr: elsewhere than on Linux the child is stopped by yerp bench
// only (pocketBaseScenarios stops it on every return).
func pbChildAttr() *syscall.SysProcAttr { return nil }
