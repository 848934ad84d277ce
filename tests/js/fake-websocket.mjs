// The fake WebSocket the JavaScript tests drive: no network, every instance recorded.

/** A WebSocket class of its own per test, recording every instance. */
export function fakeWebSocket() {
  class FakeWebSocket {
    static instances = [];
    constructor(url, protocols) {
      this.url = url;
      this.protocols = protocols;
      this.readyState = 0;
      this.sent = [];
      this.closedWith = null;
      FakeWebSocket.instances.push(this);
    }
    send(text) {
      if (this.readyState !== 1) throw new Error("send() on a socket that is not open");
      this.sent.push(JSON.parse(text));
    }
    close(code, reason) {
      this.closedWith = { code, reason };
      this.readyState = 3;
    }
    // Test drivers: what the server or the network does.
    open() {
      this.readyState = 1;
      this.onopen?.({});
    }
    receive(frame) {
      this.onmessage?.({ data: typeof frame === "string" ? frame : JSON.stringify(frame) });
    }
    serverClose(code, reason = "") {
      this.readyState = 3;
      this.onclose?.({ code, reason, wasClean: code !== 1006 });
    }
    static get last() {
      return FakeWebSocket.instances.at(-1);
    }
  }
  return FakeWebSocket;
}
