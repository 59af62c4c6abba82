package outbound

// SetKey sets the flow token key, for a test reading the tokens of a
// Kamailio whose key it knows.
func (m *Module) SetKey(k []byte) { m.key = k }
