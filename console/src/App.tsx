import { lazy, Suspense, type ReactNode } from "react";
import { Navigate, Route, Routes, useLocation } from "react-router";
import { Layout } from "./components/Layout";
import { Loading, ProblemAlert } from "./components/states";
import { isAdmin, useMe } from "./lib/session";
import { SignIn } from "./pages/SignIn";

// Pages load on first visit; the admin's pages are chunks of their own.
const Register = lazy(() => import("./pages/public").then((m) => ({ default: m.Register })));
const VerifyEmail = lazy(() => import("./pages/public").then((m) => ({ default: m.VerifyEmail })));
const ForgotPassword = lazy(() =>
  import("./pages/public").then((m) => ({ default: m.ForgotPassword })),
);
const ResetPassword = lazy(() =>
  import("./pages/public").then((m) => ({ default: m.ResetPassword })),
);
const AcceptInvitation = lazy(() =>
  import("./pages/public").then((m) => ({ default: m.AcceptInvitation })),
);
const Home = lazy(() => import("./pages/Home"));
const Models = lazy(() => import("./pages/Models"));
const ModelDetail = lazy(() => import("./pages/ModelDetail"));
const Subscriptions = lazy(() => import("./pages/Subscriptions"));
const ApiKeys = lazy(() => import("./pages/ApiKeys"));
const Usage = lazy(() => import("./pages/Usage"));
const Playground = lazy(() => import("./pages/Playground"));
const Organizations = lazy(() => import("./pages/Organizations"));
const Organization = lazy(() => import("./pages/Organization"));
const Account = lazy(() => import("./pages/Account"));
const AdminModels = lazy(() => import("./pages/admin/Models"));
const AdminSubscriptions = lazy(() => import("./pages/admin/Subscriptions"));
const AdminUsers = lazy(() => import("./pages/admin/Users"));
const AdminOrganizations = lazy(() => import("./pages/admin/Organizations"));
const AdminAudit = lazy(() => import("./pages/admin/Audit"));

/** Pages for people who are signed in; others go to sign in and come back. */
function SignedIn({ children, admin }: { children: ReactNode; admin?: boolean }) {
  const me = useMe();
  const location = useLocation();
  if (me.isPending) return <Loading />;
  if (me.error) return <ProblemAlert error={me.error} />;
  if (!me.data) {
    const back = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`/sign-in?next=${back}`} replace />;
  }
  if (admin && !isAdmin(me.data)) return <Navigate to="/" replace />;
  return <Layout user={me.data}>{children}</Layout>;
}

const page = (element: ReactNode, admin = false) => (
  <SignedIn admin={admin}>
    <Suspense fallback={<Loading />}>{element}</Suspense>
  </SignedIn>
);
const open = (element: ReactNode) => <Suspense fallback={<Loading />}>{element}</Suspense>;

export function App() {
  return (
    <Routes>
      <Route path="/sign-in" element={<SignIn />} />
      <Route path="/register" element={open(<Register />)} />
      <Route path="/verify-email" element={open(<VerifyEmail />)} />
      <Route path="/forgot-password" element={open(<ForgotPassword />)} />
      <Route path="/reset-password" element={open(<ResetPassword />)} />
      <Route path="/invitations/accept" element={open(<AcceptInvitation />)} />
      <Route path="/" element={page(<Home />)} />
      <Route path="/models" element={page(<Models />)} />
      <Route path="/models/:id" element={page(<ModelDetail />)} />
      <Route path="/subscriptions" element={page(<Subscriptions />)} />
      <Route path="/api-keys" element={page(<ApiKeys />)} />
      <Route path="/usage" element={page(<Usage />)} />
      <Route path="/playground" element={page(<Playground />)} />
      <Route path="/organizations" element={page(<Organizations />)} />
      <Route path="/organizations/:org/*" element={page(<Organization />)} />
      <Route path="/account" element={page(<Account />)} />
      <Route path="/admin/models" element={page(<AdminModels />, true)} />
      <Route path="/admin/subscriptions" element={page(<AdminSubscriptions />, true)} />
      <Route path="/admin/users" element={page(<AdminUsers />, true)} />
      <Route path="/admin/organizations" element={page(<AdminOrganizations />, true)} />
      <Route path="/admin/audit" element={page(<AdminAudit />, true)} />
      <Route path="*" element={<Navigate to="/" replace />} />
    </Routes>
  );
}
