package siputils

import (
	"net/http"
	"strings"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/hdr"
)

// uriExports are the request-URI parameter functions, is_gruu and
// hdr_date_check.
func uriExports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "uri_param_any", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, name string) int {
			u, err := c.RURI()
			if err != nil {
				return -1
			}
			_, ok := u.Param(name)
			return dispatch.Result(ok)
		})},
		{Name: "uri_param_rm", Ret: dispatch.Int, Fn: dispatch.FS(uriParamRm)},
		// is_gruu(): 1 for a GRUU with a value (temporary), 2 for one
		// without (public), as Kamailio's.
		{Name: "is_gruu", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			u, err := c.RURI()
			if err != nil {
				return -1
			}
			return gruu(u)
		})},
		{Name: "is_gruu", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, uri string) int {
			var u sip.URI
			if sip.ParseURI([]byte(uri), &u) != nil {
				return -1
			}
			return gruu(&u)
		})},
		{Name: "hdr_date_check", Ret: dispatch.Int, Fn: dispatch.FI(dateCheck)},
	}
}

func gruu(u *sip.URI) int {
	v, ok := u.Param("gr")
	switch {
	case !ok:
		return -1
	case len(v) > 0:
		return 1
	}
	return 2
}

// uriParamRm removes the parameter name (with its value) from the
// request URI.
func uriParamRm(c *router.Ctx, name string) int {
	u, err := c.RURI()
	if err != nil {
		return -1
	}
	if _, ok := u.Param(name); !ok {
		return -1
	}
	var kept []string
	for _, p := range strings.Split(string(u.Params), ";") {
		n, _, _ := strings.Cut(p, "=")
		if p != "" && !strings.EqualFold(strings.TrimSpace(n), name) {
			kept = append(kept, p)
		}
	}
	ruri := string(c.RURIText())
	base := ruri[:strings.IndexByte(ruri, ';')]
	rest := ""
	if i := strings.IndexByte(ruri, '?'); i >= 0 {
		rest = ruri[i:]
	}
	if len(kept) > 0 {
		base += ";" + strings.Join(kept, ";")
	}
	if err := c.SetRURI([]byte(base + rest)); err != nil {
		c.Log().Error("siputils: uri_param_rm: "+err.Error(), "route", c.Route)
		return -1
	}
	return 1
}

// dateCheck is hdr_date_check(tdiff): the Date header field is there and
// no more than tdiff seconds old.
func dateCheck(c *router.Ctx, tdiff int) int {
	i := hdr.Index(c.Msg, "Date", 0)
	if i < 0 {
		return -1
	}
	t, err := http.ParseTime(strings.TrimSpace(string(c.Msg.Header(i).Value)))
	if err != nil {
		return -1
	}
	// As Kamailio's: too old fails; a date ahead of this clock does not.
	return dispatch.Result(time.Since(t) <= time.Duration(tdiff)*time.Second)
}
