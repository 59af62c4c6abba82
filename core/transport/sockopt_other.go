//go:build !linux

package transport

import "net"

func setRecvBuffer(c *net.UDPConn, n int) { c.SetReadBuffer(n) }

// RecvBuffer is 0 where the system's receive buffer is not read.
func (l *Listener) RecvBuffer() int { return 0 }

// backlogOver is false where the backlog is not read.
func (l *Listener) backlogOver(int) bool { return false }

func socketFD(*net.UDPConn) int { return -1 }
