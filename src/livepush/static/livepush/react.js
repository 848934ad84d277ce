// React bindings for livepush.js. React is passed in rather than imported, so this module works
// with whatever copy of React the application bundles (or loads from a CDN), and bundles none.
//
//   import * as React from "react";
//   import { createLivePushReact } from "/static/livepush/react.js";
//   export const { LivePushProvider, useLivePush, useLivePushEvent, useConnectionStatus,
//     useLiveCollection, ConnectionStatusIndicator } = createLivePushReact(React);

import { LiveCollection } from "./collection.js";
import { LivePush } from "./livepush.js";

const LABELS = {
  connecting: "Connecting", open: "Live", reconnecting: "Reconnecting", closed: "Offline", failed: "Offline",
};

const LOADING = Object.freeze({ items: Object.freeze([]), isLoading: true, isError: false, error: null });

export function createLivePushReact(React) {
  const Context = React.createContext(null);
  // Layout effects warn during server rendering; there is no socket there anyway.
  const useIsomorphicLayoutEffect = typeof document !== "undefined" ? React.useLayoutEffect : React.useEffect;

  /** Provides `client`, or a client it creates once from `options` and closes on unmount. */
  function LivePushProvider({ options, client, children }) {
    // Created without connecting: React may call this initializer twice (StrictMode) and drop one
    // result, which must not leave a socket behind. The effect below connects.
    const [own] = React.useState(() => (client ? null : new LivePush({ ...options, autoConnect: false })));
    const autoConnect = options?.autoConnect !== false;
    React.useEffect(() => {
      if (!own) return undefined;
      if (autoConnect) own.connect();
      // Under StrictMode effects run, clean up and run again: connect() after close() reopens.
      return () => own.close();
    }, [own]); // eslint-disable-line react-hooks/exhaustive-deps -- options are read once
    return React.createElement(Context.Provider, { value: client ?? own }, children);
  }

  function useLivePush() {
    const client = React.useContext(Context);
    if (!client) throw new Error("useLivePush() and the livepush hooks must be used inside <LivePushProvider>");
    return client;
  }

  /** Binds `handler` to `type` while mounted; always calls the latest `handler`. */
  function useLivePushEvent(type, handler) {
    const client = useLivePush();
    const latest = React.useRef(handler);
    useIsomorphicLayoutEffect(() => {
      latest.current = handler;
    });
    React.useEffect(() => {
      const bound = (data, messageType) => latest.current(data, messageType);
      client.bind(type, bound);
      return () => client.unbind(type, bound);
    }, [client, type]);
  }

  /** The client's StatusInfo; the component re-renders when it changes. */
  function useConnectionStatus() {
    const client = useLivePush();
    const subscribe = React.useCallback((onChange) => client.onStatus(onChange), [client]);
    const snapshot = () => client.statusInfo; // the same object until something changes
    return React.useSyncExternalStore(subscribe, snapshot, snapshot);
  }

  /**
   * A live collection (collection.js) while mounted: `{items, isLoading, isError, error, refetch}`.
   * `deps` say when to make a new one (an album id, say); options are read when it is made.
   */
  function useLiveCollection(options, deps = []) {
    const client = useLivePush();
    const latest = React.useRef(options);
    latest.current = options;
    // Made in the effect, not during render: React may render twice and keep one (StrictMode).
    const [collection, setCollection] = React.useState(null);
    React.useEffect(() => {
      const made = new LiveCollection(client, latest.current);
      setCollection(made);
      return () => made.close();
    }, [client, ...deps]); // eslint-disable-line react-hooks/exhaustive-deps -- deps are the caller's
    const subscribe = React.useCallback(
      (onChange) => (collection ? collection.subscribe(onChange) : () => {}),
      [collection],
    );
    const snapshot = () => (collection ? collection.getSnapshot() : LOADING);
    const state = React.useSyncExternalStore(subscribe, snapshot, snapshot);
    const refetch = React.useCallback(() => collection?.refetch(), [collection]);
    return { ...state, refetch };
  }

  /** The connection status as a <span>, with class names to style it; unstyled by default. */
  function ConnectionStatusIndicator({ showLabel = false, className = "livepush-status", labels = LABELS }) {
    const { status, reason } = useConnectionStatus();
    return React.createElement(
      "span",
      { className: `${className} ${className}--${status}`, title: reason || labels[status], "data-status": status },
      showLabel ? labels[status] : null,
    );
  }

  return {
    LivePushProvider,
    useLivePush,
    useLivePushEvent,
    useConnectionStatus,
    useLiveCollection,
    ConnectionStatusIndicator,
  };
}

export default createLivePushReact;
