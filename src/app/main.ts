import './global.css';
import './facesense-app';
