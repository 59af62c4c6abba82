package all

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// readOnly are the package-level variables of modules/ that are not
// module state: set once when the package initialises and only read
// after, each with the reason it is not a constant.
var readOnly = map[string]string{
	"registrar.methodBits":     "table of Kamailio's method bits (an array is not a constant)",
	"usrloc.locationColumns":   "the location table's columns",
	"usrloc.seed":              "the process's hash seed for shards, made at init",
	"auth.dummyPassword":       "random per process: an unknown user's credentials are checked against it",
	"core.methods":             "table of method names",
	"core.protos":              "table of transport names",
	"core.methodLetters":       "lookup table",
	"core.protoLetters":        "lookup table",
	"tm.magic":                 "RFC 3261's branch cookie as bytes",
	"jsonrpcs.routeDesc":       "a Prometheus descriptor",
	"jsonrpcs.routeBuckets":    "the latency histogram's buckets",
	"pv.wholeHeaders":          "the selects that read a header whole, to its name",
	"ipops.privateNets":        "RFC 1918's networks",
	"ipops.ipv4Types":          "IANA's special-purpose IPv4 ranges",
	"ipops.ipv6Types":          "IANA's special-purpose IPv6 ranges",
	"http_client.curlMessages": "libcurl's texts of its error codes",
	"ndb_redis.redisdNames":    "hiredis's reply type numbers by $redisd name",
	"sdpops.staticIDs":         "RFC 3551's payload types of the codec names",
	"moduletest.Proxy":         "the test kit's fixed proxy address",
	"moduletest.Client":        "the test kit's fixed client address",
	"dialog.dlgKeys":           "the names of $dlg",
	"uac.regColumns":           "the uacreg table's columns",
	"uac.uacReqNames":          "the keys of $uac_req",
	"moduletest.nonceRe":       "the test kit's pattern of a challenge's nonce",
	"pv.sndNames":              "the names of $snd, $sndto and $sndfrom",
	"topoh.ccittTab":           "the CRC-CCITT table (Kamailio's, made at init)",
	"topos.dialogCols":         "the topos_d table's columns",
	"topos.branchCols":         "the topos_t table's columns",
}

// TestNoPackageState: a module's state belongs to its value (dispatch.
// ModuleInfo.New), so that two proxies in one process share nothing. The
// package-level variables of modules/ may only be interface guards,
// error values, request slots (router.NewSlot: registration) and the
// read-only tables above.
func TestNoPackageState(t *testing.T) {
	dirs, err := os.ReadDir("..")
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	seen := map[string]bool{}
	fset := token.NewFileSet()
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		files, _ := filepath.Glob(filepath.Join("..", d.Name(), "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, decl := range file.Decls {
				g, ok := decl.(*ast.GenDecl)
				if !ok || g.Tok != token.VAR {
					continue
				}
				for _, spec := range g.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, n := range vs.Names {
						name := file.Name.Name + "." + n.Name
						switch {
						case n.Name == "_":
						case strings.HasPrefix(n.Name, "err"):
						case i < len(vs.Values) && isSlot(vs.Values[i]):
						case readOnly[name] != "":
							seen[name] = true
						default:
							bad = append(bad, fset.Position(n.Pos()).String()+": "+name)
						}
					}
				}
			}
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Errorf("%s: package-level state in a module: move it into the module's value (or list it in readOnly with the reason)", b)
	}
	for name, why := range readOnly {
		if why != "" && !seen[name] {
			t.Errorf("readOnly lists %s, which no module has any more", name)
		}
	}
}

// isSlot reports a router.NewSlot[T]() call.
func isSlot(e ast.Expr) bool {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		return false
	}
	fn := call.Fun
	if ix, ok := fn.(*ast.IndexExpr); ok {
		fn = ix.X
	}
	sel, ok := fn.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "NewSlot"
}
