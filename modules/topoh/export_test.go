package topoh

// MaskURI is a URI as topoh masks it (Contact, Record-Route).
func (m *Module) MaskURI(s string) string { return string(m.encode(&work{}, m.uriPrefix, []byte(s))) }

// MaskCallID is a Call-ID as topoh masks it.
func (m *Module) MaskCallID(s string) string {
	return string(m.encode(&work{}, m.callidPrefix, []byte(s)))
}

// MaskIsMe says whether mask_ip is one of the proxy's addresses.
func (m *Module) MaskIsMe() bool { return m.maskIsMe }
