// Types of react.js, the React bindings of livepush.js. React is passed to createLivePushReact()
// rather than imported, so these types do not depend on @types/react: ReactLike is the part of
// React the bindings use, and the provider's return type is taken from your React's createElement.

import type { LiveCollectionOptions, LiveCollectionSnapshot } from "./collection.js";
import type { Handler, LivePush, LivePushOptions, StatusInfo } from "./livepush.js";

/** The members of the React module that the bindings call (`typeof React` satisfies it). */
export interface ReactLike {
  createContext: (...args: any[]) => any;
  createElement: (...args: any[]) => any;
  useCallback: (...args: any[]) => any;
  useContext: (...args: any[]) => any;
  useEffect: (...args: any[]) => any;
  useLayoutEffect: (...args: any[]) => any;
  useRef: (...args: any[]) => any;
  useState: (...args: any[]) => any;
  useSyncExternalStore: (...args: any[]) => any;
}

export interface LivePushProviderProps<M extends Record<string, unknown> = Record<string, unknown>> {
  /** Options for the client the provider creates once and closes on unmount. */
  options?: LivePushOptions;
  /** An existing client to provide instead; the provider never closes it. */
  client?: LivePush<M>;
  children?: unknown;
}

export interface LivePushReact<M extends Record<string, unknown> = Record<string, unknown>, E = any> {
  LivePushProvider: (props: LivePushProviderProps<M>) => E;
  /** The provided client; throws outside a LivePushProvider. */
  useLivePush: () => LivePush<M>;
  /** Binds the handler while the component is mounted; the latest handler is always called. */
  useLivePushEvent: <K extends keyof M & string>(type: K, handler: Handler<M[K]>) => void;
  /** The client's status; the component re-renders when it changes. */
  useConnectionStatus: () => StatusInfo;
  /**
   * A live collection while mounted (the seed's usePhotosWithWebSocket, generalised); a new one
   * when `deps` change. Options are read when it is made.
   */
  useLiveCollection: <T>(
    options: LiveCollectionOptions<T, M>,
    deps?: unknown[],
  ) => LiveCollectionSnapshot<T> & { refetch: () => void };
  /** The status as a span with classes `livepush-status livepush-status--<status>`. */
  ConnectionStatusIndicator: (props: ConnectionStatusIndicatorProps) => E;
}

export interface ConnectionStatusIndicatorProps {
  /** Show the label ("Live", "Reconnecting", ...) as text; default false (style the classes). */
  showLabel?: boolean;
  /** The base class name, "livepush-status" by default. */
  className?: string;
  /** Labels by status. */
  labels?: Partial<Record<StatusInfo["status"], string>>;
}

export declare function createLivePushReact<
  M extends Record<string, unknown> = Record<string, unknown>,
  R extends ReactLike = ReactLike,
>(React: R): LivePushReact<M, ReturnType<R["createElement"]>>;

export default createLivePushReact;
