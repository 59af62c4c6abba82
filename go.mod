module github.com/kemi-sip/kemi

go 1.26
