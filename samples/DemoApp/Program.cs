// The demo app the sidecar forwards to: plain HTTP on 127.0.0.1:8080 (--urls=... to change it).
// Its pages are listed in DemoSite.cs and at http://127.0.0.1:8080/.
DemoApp.DemoSite.Build(args).Run();
