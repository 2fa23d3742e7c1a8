package catalog

// HoldChanges takes c's change lock, as a long change (a drain) does, so
// that its watch applies nothing until release: a test can then make
// several changes on another node before this one sees the first.
func HoldChanges(c *Catalog) (release func()) {
	c.ctl.Lock()
	return c.ctl.Unlock
}
